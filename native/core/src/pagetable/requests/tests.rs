use super::*;

fn pte(n: u64) -> Cost {
  Cost {
    pte_writes: n,
    ..Cost::default()
  }
}

#[test]
fn the_worst_is_the_first_of_the_most_and_the_spread_is_exact() {
  let mut r = RequestCosts::default();
  assert_eq!((r.worst, r.pte_spread()), (None, vec![]));
  for (i, n) in [3, 0, 5000, 3, 5000, 1023, 1024].into_iter().enumerate() {
    r.record(i as u64, &pte(n));
  }
  assert_eq!(r.worst, Some((2, pte(5000))));
  assert_eq!(
    r.pte_spread(),
    vec![(0, 1), (3, 2), (1023, 1), (1024, 1), (5000, 2)]
  );
}
