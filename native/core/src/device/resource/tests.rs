use crate::device::*;
use crate::errno::Errno;

const K: u64 = 1024;

fn locked_validate(d: &mut Device, id: u32, p: &[Place]) -> Result<Validated> {
  let r = d.object(id).unwrap().resv;
  d.lock(0, r, None, LockMode::Normal).unwrap();
  let v = d.validate(0, id, p);
  d.unlock(0, r).unwrap();
  v
}

#[test]
fn unbacked_objects_move_out_of_none_without_a_hop() {
  let mut d = Device::new(WwClass::WaitDie);
  d.create_object_unbacked(1, 8 * K, None, Profile::GemVram2024)
    .unwrap();
  assert_eq!(d.resource(1).unwrap(), None);
  assert_eq!(d.domain_stats(Domain::System).unwrap().used, 0);
  let v = locked_validate(&mut d, 1, &[Place::at(Domain::Vram, 0)]).unwrap();
  assert_eq!((v.moved, v.bytes_moved), (true, 8 * K));
  assert_eq!(d.resource(1).unwrap().unwrap().domain, Domain::Vram);
  // Now it has pages: VRAM -> SYSTEM bounces through GTT.
  let v = locked_validate(&mut d, 1, &[Place::at(Domain::System, 0)]).unwrap();
  assert_eq!(v.bytes_moved, 16 * K);
}

#[test]
fn private_types_and_custom_hops() {
  let opts = ManagerOptions {
    private: vec![TypeConfig {
      name: "stage".into(),
      size: 64 * K,
      allocator: AllocKind::Buddy,
      use_tt: true,
    }],
    hops: vec![Hop {
      from: Domain::Vram,
      to: Domain::Gtt,
      via: Domain::private(0).unwrap(),
    }],
    ..ManagerOptions::default()
  };
  let mut d = Device::with_managers(WwClass::WaitDie, MemoryConfig::default(), &opts).unwrap();
  assert_eq!(d.memory_types(), 4);
  let stage = Domain::private(0).unwrap();
  assert_eq!(d.domain_stats(stage).unwrap().allocator, AllocKind::Buddy);
  d.create_object(1, 4 * K, None, Profile::GemVram2024).unwrap();
  locked_validate(&mut d, 1, &[Place::at(Domain::Vram, 0)]).unwrap();
  d.track_moves(true);
  let v = locked_validate(&mut d, 1, &[Place::at(Domain::Gtt, 0)]).unwrap();
  assert_eq!(v.bytes_moved, 8 * K);
  let to: Vec<_> = d.take_moves().iter().map(|m| m.to).collect();
  assert_eq!(to, [Some(stage), Some(Domain::Gtt)]);
  // Undeclared types have no manager: skipped, ENOMEM.
  let p = [Place::at(Domain::private(1).unwrap(), 0)];
  assert_eq!(locked_validate(&mut d, 1, &p).unwrap_err().errno, Errno::ENOMEM);
  let bad = ManagerOptions {
    hops: vec![Hop {
      from: Domain::Vram,
      to: Domain::Gtt,
      via: Domain::Gtt,
    }],
    ..ManagerOptions::default()
  };
  assert!(Device::with_managers(WwClass::WaitDie, MemoryConfig::default(), &bad).is_err());
}
