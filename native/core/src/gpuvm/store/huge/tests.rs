use super::{make_room, MIN_BYTES};

#[test]
fn growing_past_the_threshold_keeps_every_element_in_order() {
  let n = 2 * MIN_BYTES / size_of::<u64>() + 3;
  let mut v: Vec<u64> = Vec::new();
  let mut moved = 0;
  for i in 0..n as u64 {
    let before = v.capacity();
    make_room(&mut v);
    moved += usize::from(v.capacity() != before);
    v.push(i);
  }
  // Every growth to 4 MiB and beyond goes through `make_room` (to 4, 8
  // and 16 MiB here); the smaller ones are `push`'s own.
  assert!(moved == 3, "make_room moved the array {moved} times");
  assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64));
}
