use super::*;

#[test]
fn splitmix_matches_the_workload_text() {
  let mut r = SplitMix64::new(1);
  assert_eq!(r.next_u64(), 0x910a2dec89025cc1);
  assert_eq!(r.next_u64(), 0xbeeb8da1658eec67);
  assert_eq!(r.next_u64(), 0xf893a2eefb32555e);
}

/// The stream's divisions by a power of two are masks: the draws stay those
/// of `SplitMix64::below`, for any divisor.
#[test]
fn requests_draw_as_the_workload_text_says() {
  for (window, max_pages, objects) in [
    (1 << 20, 64, 1024),
    (1000, 7, 3),
    (4096, 1, 1),
    (1 << 24, 512, 100),
  ] {
    let params = Params {
      seed: 5,
      ops: 2000,
      window,
      max_pages,
      objects,
      map_percent: 70,
    };
    let mut rng = SplitMix64::new(params.seed);
    let want: Vec<Request> = (0..params.ops)
      .map(|_| {
        let is_map = rng.below(100) < params.map_percent;
        let page = rng.below(window);
        let pages = (1 + rng.below(max_pages)).min(window - page);
        let (addr, range) = (BASE + page * PAGE_SIZE, pages * PAGE_SIZE);
        if !is_map {
          return Request::Unmap { addr, range };
        }
        let obj = 1 + rng.below(objects) as u32;
        let offset = rng.below(256) * PAGE_SIZE;
        Request::Map(OpMap {
          addr,
          range,
          obj,
          offset,
        })
      })
      .collect();
    assert_eq!(Requests::new(params).collect::<Vec<_>>(), want, "{params:?}");
  }
}

/// Read two ahead, a stream of any length (the ring's start and end
/// included) hands out the same requests, each with the addresses of the
/// two after it and 0 past the end.
#[test]
fn ahead_shows_the_next_two_addresses() {
  for ops in 0..9 {
    let params = Params {
      ops,
      ..Params::default()
    };
    let reqs: Vec<Request> = Requests::new(params).collect();
    let addr = |k: usize| reqs.get(k).map_or(0, Request::addr);
    let want: Vec<(Request, u64, u64)> = (0..reqs.len())
      .map(|i| (reqs[i], addr(i + 1), addr(i + 2)))
      .collect();
    assert_eq!(
      Ahead::new(Requests::new(params)).collect::<Vec<_>>(),
      want,
      "{ops} requests"
    );
  }
}

fn golden(name: &str) -> Option<String> {
  let path = format!("{}/../../../shared/golden/{name}", env!("CARGO_MANIFEST_DIR"));
  std::fs::read_to_string(path).ok()
}

fn output(params: Params, trace: Trace) -> String {
  let mut out = Vec::new();
  let summary = run(&params, trace, &mut out).unwrap().summary;
  String::from_utf8(out).unwrap() + &summary.render()
}

#[test]
fn golden_trace_seed1_2000() {
  let Some(want) = golden("vmbind-seed1-ops2000.trace") else {
    return;
  };
  assert_eq!(
    output(
      Params {
        ops: 2000,
        ..Params::default()
      },
      Trace::Full
    ),
    want
  );
}

#[test]
fn golden_summaries() {
  let cases = [
    ("vmbind-seed1-ops100000.summary", Params::default()),
    (
      "vmbind-seed2-ops100000.summary",
      Params {
        seed: 2,
        ..Params::default()
      },
    ),
    (
      "vmbind-seed9-w4096-l16-k4-p60-ops200000.summary",
      Params {
        seed: 9,
        ops: 200_000,
        window: 4096,
        max_pages: 16,
        objects: 4,
        map_percent: 60,
      },
    ),
  ];
  for (name, params) in cases {
    let Some(want) = golden(name) else { continue };
    assert_eq!(output(params, Trace::Hash), want, "{name}");
  }
}

#[test]
fn bad_params_are_einval() {
  for p in [
    Params {
      window: 0,
      ..Params::default()
    },
    Params {
      max_pages: 0,
      ..Params::default()
    },
    Params {
      objects: 0,
      ..Params::default()
    },
    Params {
      map_percent: 101,
      ..Params::default()
    },
  ] {
    assert_eq!(
      run(&p, Trace::Off, &mut Vec::new()).err().unwrap().errno,
      Errno::EINVAL
    );
  }
}

/// Splits and keeps as the trace lines show them.
fn counted_from_trace(trace: &str) -> (u64, u64) {
  let (mut splits, mut keeps) = (0, 0);
  for line in trace.lines() {
    let remap = line.starts_with("op remap ");
    if remap && !line.contains("prev=- ") && !line.ends_with("next=-") {
      splits += 1;
    }
    if (remap || line.starts_with("op unmap ")) && line.contains(" keep=1") {
      keeps += 1;
    }
  }
  (splits, keeps)
}

fn small() -> Params {
  Params {
    ops: 5000,
    window: 16,
    max_pages: 8,
    objects: 1,
    map_percent: 60,
    ..Params::default()
  }
}

#[test]
fn the_tally_counts_what_the_trace_shows() {
  let mut out = Vec::new();
  let run = run(&small(), Trace::Full, &mut out).unwrap();
  let (splits, keeps) = counted_from_trace(std::str::from_utf8(&out).unwrap());
  assert!(splits > 0 && keeps > 0);
  assert_eq!((run.summary.splits, run.summary.keeps), (splits, keeps));
  let off = super::run(&small(), Trace::Off, &mut Vec::new()).unwrap();
  assert_eq!(
    (off.summary.splits, off.summary.keeps, off.summary.counts),
    (splits, keeps, run.summary.counts)
  );
  assert!(run.samples.is_empty());
}

#[test]
fn samples_fall_every_n_requests_and_after_the_last() {
  let every = |n: u64| std::num::NonZeroU64::new(n);
  for (ops, n, want) in [
    (10, 3, vec![2, 5, 8, 9]),
    (9, 3, vec![2, 5, 8]),
    (5, 7, vec![4]),
    (0, 2, vec![]),
    (3, 1, vec![0, 1, 2]),
  ] {
    let params = Params { ops, ..small() };
    let run = run_sampled(&params, Trace::Off, every(n), &mut Vec::new()).unwrap();
    let reqs: Vec<u64> = run.samples.iter().map(|s| s.req).collect();
    assert_eq!(reqs, want, "ops {ops}, every {n}");
  }
  let run = run_sampled(&small(), Trace::Off, every(500), &mut Vec::new()).unwrap();
  let last = run.samples.last().unwrap();
  assert_eq!(last.req, 4999);
  assert_eq!(last.mappings, run.summary.mappings);
  assert_eq!(last.tally.counts, run.summary.counts);
  assert_eq!(
    (last.splits(), last.tally.keeps),
    (run.summary.splits, run.summary.keeps)
  );
  let unsampled = super::run(&small(), Trace::Off, &mut Vec::new()).unwrap().summary;
  assert_eq!(unsampled, run.summary);
  let mapped: u64 = run
    .vm
    .iter()
    .filter(|va| !va.is_kernel_node())
    .map(|va| va.range)
    .sum();
  assert_eq!(last.tally.mapped_bytes, mapped);
}

/// A run without a trace applies each walk where it stands (gpuvm/walk.rs),
/// a hashed run applies the steps it writes: the same samples, state and
/// layout.
#[test]
fn an_untraced_run_samples_what_a_traced_run_samples() {
  let every = std::num::NonZeroU64::new(97);
  for params in [
    small(),
    Params {
      ops: 30_000,
      ..Params::default()
    },
    Params {
      ops: 20_000,
      window: 1 << 24,
      max_pages: 512,
      ..Params::default()
    },
    Params {
      seed: 9,
      ops: 20_000,
      window: 4096,
      max_pages: 16,
      objects: 4,
      map_percent: 60,
    },
  ] {
    let off = run_sampled(&params, Trace::Off, every, &mut Vec::new()).unwrap();
    let hashed = run_sampled(&params, Trace::Hash, every, &mut Vec::new()).unwrap();
    assert_eq!(off.samples, hashed.samples, "{params:?}");
    let want = Summary {
      trace_hash: None,
      ..hashed.summary
    };
    assert_eq!(off.summary, want, "{params:?}");
    let records = |vm: &GpuVm| vm.iter().collect::<Vec<_>>();
    assert_eq!(records(&off.vm), records(&hashed.vm), "{params:?}");
  }
}

#[test]
fn the_packed_mappings_are_the_mappings_left() {
  let run = run(
    &Params {
      ops: 3000,
      ..Params::default()
    },
    Trace::Off,
    &mut Vec::new(),
  )
  .unwrap();
  let words = packed_mappings(&run.vm);
  let want: Vec<u64> = run
    .vm
    .iter()
    .filter(|va| !va.is_kernel_node())
    .flat_map(|va| {
      [
        BATCH_MAP | u64::from(va.obj) << BATCH_OBJ_SHIFT,
        va.addr,
        va.range,
        va.offset,
      ]
    })
    .collect();
  assert_eq!(words.len() as u64, run.summary.mappings * BATCH_WORDS as u64);
  assert_eq!(words, want);
}

#[test]
fn below_is_the_remainder_of_the_draw() {
  for n in [
    1,
    2,
    3,
    7,
    64,
    100,
    256,
    1000,
    1 << 20,
    (1 << 20) + 1,
    1 << 63,
    u64::MAX,
  ] {
    let (mut a, mut b) = (SplitMix64::new(9), SplitMix64::new(9));
    for _ in 0..1000 {
      assert_eq!(a.below(n), b.next_u64() % n, "n = {n}");
    }
  }
}
