use super::*;

#[test]
fn splitmix_matches_the_workload_text() {
  let mut r = SplitMix64::new(1);
  assert_eq!(r.next_u64(), 0x910a2dec89025cc1);
  assert_eq!(r.next_u64(), 0xbeeb8da1658eec67);
  assert_eq!(r.next_u64(), 0xf893a2eefb32555e);
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
