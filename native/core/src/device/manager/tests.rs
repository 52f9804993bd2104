use super::*;

const K: u64 = 1024;

#[test]
fn a_window_without_room_is_enospc() {
  let mut m = MemDomain::new(64 * K, AllocKind::Buddy, true).unwrap();
  let e = m.alloc(128 * K, Place::at(Domain::Gtt, 0)).unwrap_err();
  assert_eq!(e.errno, Errno::ENOSPC);
}

#[test]
fn buddy_rounds_to_pages_and_reports_runs() {
  let mut m = MemDomain::new(64 * K, AllocKind::Buddy, false).unwrap();
  let a = m.alloc(100, Place::at(Domain::Vram, 0)).unwrap();
  assert_eq!(m.stats().used, 4 * K);
  assert_eq!(m.res_flags(a), PL_CONTIGUOUS);
  let c = m.alloc(4 * K, Place::at(Domain::Vram, 0)).unwrap();
  m.free(a);
  // 4 KiB free at 60K, 8 KiB at 48K: 12 KiB takes both, two blocks, not one run.
  let b = m.alloc(12 * K, Place::at(Domain::Vram, 0)).unwrap();
  assert_eq!(m.blocks(b), [(48 * K, 8 * K), (60 * K, 4 * K)]);
  assert_eq!(m.blocks(b).len(), 2);
  assert_eq!(m.res_flags(b) & PL_CONTIGUOUS, 0);
  assert!(!m.compatible(b, Place::at(Domain::Vram, PL_CONTIGUOUS)));
  m.free(b);
  m.free(c);
  assert_eq!(m.stats().used, 0);
}

#[test]
fn windows_bound_allocation_compatibility_and_intersection() {
  let mut m = MemDomain::new(64 * K, AllocKind::Mm, false).unwrap();
  let low = Place::windowed(Domain::Vram, 0, 0, 4).unwrap();
  let high = Place::windowed(Domain::Vram, PL_TOPDOWN, 8, 0).unwrap();
  let a = m.alloc(16 * K, low).unwrap();
  assert_eq!(m.blocks(a), [(0, 16 * K)]);
  assert!(m.alloc(4 * K, low).is_err_and(|e| e.errno == Errno::ENOSPC));
  let b = m.alloc(8 * K, high).unwrap();
  assert_eq!(m.blocks(b), [(56 * K, 8 * K)]);
  assert!(m.compatible(a, low) && !m.compatible(b, low) && m.compatible(b, high));
  assert!(m.intersects(a, low) && !m.intersects(b, low));
  // A window past the end is empty: never room.
  let past = Place::windowed(Domain::Vram, 0, 100, 0).unwrap();
  assert!(m.alloc(4 * K, past).is_err_and(|e| e.errno == Errno::ENOSPC));
}

#[test]
fn temporary_is_remembered_and_private_types_are_checked() {
  let mut m = MemDomain::new(64 * K, AllocKind::Mm, true).unwrap();
  let t = m.alloc(4 * K, Place::at(Domain::Gtt, PL_TEMPORARY)).unwrap();
  assert_eq!(m.res_flags(t), PL_TEMPORARY | PL_CONTIGUOUS);
  let t = |n: &str| TypeConfig {
    name: n.into(),
    size: K,
    allocator: AllocKind::Mm,
    use_tt: false,
  };
  assert!(check_private(&[t("gds"), t("gws")]).is_ok());
  assert!(check_private(&[t("gds"), t("gds")]).is_err());
  assert!(check_private(&[t("vram")]).is_err());
  let seven: Vec<_> = (0..7).map(|i| t(&format!("p{i}"))).collect();
  assert!(check_private(&seven).is_err());
  assert!(Place::windowed(Domain::Vram, 0, 5, 5).is_err());
  assert!(Place::decode(3 | PL_CONTIGUOUS << 8, 0, 16).is_ok());
}
