use super::*;
use crate::gpuvm::GpuVm;

const K4: u64 = 4 << 10;
const M2: u64 = 2 << 20;
const G1: u64 = 1 << 30;

fn vm(profile: Profile) -> GpuVm {
  let mut vm = GpuVm::new("pt", 0, 1 << 48, None);
  vm.attach_page_table(profile).unwrap();
  vm
}

fn last(vm: &mut GpuVm) -> Cost {
  vm.page_table().unwrap().last_request()
}

fn occ(vm: &mut GpuVm) -> Occupancy {
  vm.page_table().unwrap().occupancy()
}

#[test]
fn bind_2m_aligned_is_one_huge_pte_and_the_tables_above() {
  let mut vm = vm(Profile::xe());
  vm.bind(M2, M2, 1, 0).unwrap();
  let c = last(&mut vm);
  assert_eq!(c.pte_writes, 1);
  assert_eq!(c.huge_pages_formed, 1);
  assert_eq!(
    c.pt_pages_allocated, 2,
    "a level-2 and a level-1 table under the root"
  );
  assert_eq!(c.pde_writes, 2);
  assert_eq!(c.tlb_invalidations, 0);
  let o = occ(&mut vm);
  assert_eq!(o.tables, vec![0, 1, 1, 1]);
  assert_eq!(o.leaves, vec![0, 1, 0, 0]);
  assert_eq!(o.bytes, 3 * 4096);
}

#[test]
fn unbind_4k_out_of_a_huge_page_splits_it() {
  let mut vm = vm(Profile::xe());
  vm.bind(M2, M2, 1, 0).unwrap();
  vm.unbind(M2, K4).unwrap();
  let c = last(&mut vm);
  assert_eq!(c.huge_page_splits, 1);
  assert_eq!(
    c.pte_writes,
    512 + 1,
    "the new table filled, then the 4 KiB cleared"
  );
  assert_eq!(c.pde_writes, 1);
  assert_eq!(c.pt_pages_allocated, 1);
  assert_eq!(c.pt_pages_freed, 0);
  assert_eq!((c.tlb_invalidations, c.tlb_bytes), (1, K4));
  assert_eq!(vm.page_table().unwrap().last_tlb_ranges(), &[(M2, K4)]);
  let o = occ(&mut vm);
  assert_eq!(o.leaves, vec![511, 0, 0, 0]);
  assert_eq!(o.entries, vec![511, 1, 1, 1]);
}

#[test]
fn unbind_in_the_middle_keeps_both_pieces() {
  let mut vm = vm(Profile::xe());
  vm.bind(0, 3 * M2, 1, 0).unwrap();
  assert_eq!(last(&mut vm).pte_writes, 3);
  vm.unbind(M2 + 8 * K4, K4).unwrap();
  let c = last(&mut vm);
  assert_eq!(
    (c.huge_page_splits, c.pte_writes, c.tlb_invalidations),
    (1, 513, 1)
  );
  assert_eq!(occ(&mut vm).leaves, vec![511, 2, 0, 0]);
}

#[test]
fn a_1g_leaf_and_its_split() {
  let mut vm = vm(Profile::xe());
  vm.bind(G1, G1, 7, 0).unwrap();
  let c = last(&mut vm);
  assert_eq!(
    (c.pte_writes, c.huge_pages_formed, c.pt_pages_allocated),
    (1, 1, 1)
  );
  vm.unbind(G1, K4).unwrap();
  let c = last(&mut vm);
  // 1 GiB -> 512 x 2 MiB, the first 2 MiB -> 512 x 4 KiB, 4 KiB cleared.
  assert_eq!(c.huge_page_splits, 2);
  assert_eq!(c.pte_writes, 512 + 512 + 1);
  assert_eq!(c.pt_pages_allocated, 2);
  assert_eq!(occ(&mut vm).leaves, vec![511, 511, 0, 0]);
}

#[test]
fn a_misaligned_offset_forbids_the_huge_leaf() {
  let mut vm = vm(Profile::xe());
  vm.bind(M2, M2, 1, K4).unwrap();
  let c = last(&mut vm);
  assert_eq!(
    (c.pte_writes, c.huge_pages_formed, c.pt_pages_allocated),
    (512, 0, 3)
  );
  // No object: the VA alone decides.
  vm.bind(2 * M2, M2, 0, K4).unwrap();
  assert_eq!(last(&mut vm).huge_pages_formed, 1);
}

#[test]
fn unbinding_everything_frees_every_table_but_the_root() {
  let mut vm = vm(Profile::xe());
  vm.bind(M2, M2, 1, 0).unwrap();
  vm.bind(G1 + K4, 5 * M2, 2, K4).unwrap();
  vm.unbind(M2, K4).unwrap();
  vm.unbind(0, 1 << 40).unwrap();
  let t = vm.page_table().unwrap().total();
  assert_eq!(t.pt_pages_allocated, t.pt_pages_freed);
  let o = occ(&mut vm);
  assert_eq!(o.tables, vec![0, 0, 0, 1]);
  assert_eq!(o.entries, vec![0, 0, 0, 0]);
  assert_eq!(o.leaves, vec![0, 0, 0, 0]);
}

#[test]
fn panthor_has_no_1g_leaf() {
  let mut vm = vm(Profile::panthor());
  vm.bind(G1, G1, 1, 0).unwrap();
  let c = last(&mut vm);
  assert_eq!((c.pte_writes, c.huge_pages_formed), (512, 512));
}

#[test]
fn nouveau_pd0_covers_512m() {
  let p = Profile::nouveau();
  assert_eq!(p.va_bits(), 49);
  let mut vm = vm(p);
  vm.bind(0, 512 << 20, 1, 0).unwrap();
  let c = last(&mut vm);
  assert_eq!((c.pte_writes, c.pt_pages_allocated), (256, 3));
  // PD0 (256 x 16 B), PD1 and PD2 (512 x 8 B), the 4-entry root.
  assert_eq!(occ(&mut vm).bytes, 3 * 4096 + 32);
}

#[test]
fn remap_through_the_hub_counts_alike() {
  let mut seed = vm(Profile::xe());
  let mut hub = GpuVm::with_options(
    "pt",
    0,
    1 << 48,
    None,
    crate::gpuvm::VmOptions {
      era: u32::from(crate::gpuvm::ERA_GPUVM),
      ..Default::default()
    },
  )
  .unwrap();
  hub.attach_page_table(Profile::xe()).unwrap();
  for vm in [&mut seed, &mut hub] {
    vm.bind(0, 4 * M2, 3, 0).unwrap();
    vm.bind(M2 + K4, 2 * K4, 4, 0).unwrap();
    vm.unbind(3 * M2 - K4, 2 * K4).unwrap();
  }
  assert_eq!(
    seed.page_table().unwrap().total(),
    hub.page_table().unwrap().total()
  );
  assert_eq!(occ(&mut seed), occ(&mut hub));
}

#[test]
fn refused_profiles_and_va_spaces() {
  let mut p = Profile::xe();
  p.levels[0].leaf = false;
  assert!(PageTable::new(p).is_err());
  let mut vm = GpuVm::new("big", 0, 1 << 50, None);
  assert!(vm.attach_page_table(Profile::xe()).is_err());
  assert!(vm.page_table().is_none());
}

/// Occupancy rebuilt from the live mappings alone equals the one kept step
/// by step: the leaves are a function of the mappings.
#[test]
fn occupancy_is_a_function_of_the_mappings() {
  let mut rng = crate::vmbind::SplitMix64::new(15);
  let mut vm = vm(Profile::xe());
  for _ in 0..400 {
    let addr = rng.below(64) * (K4 << rng.below(10));
    let range = (1 + rng.below(600)) * K4;
    if rng.below(3) < 2 {
      let obj = rng.below(3) as u32;
      vm.bind(addr, range, obj, rng.below(4) * M2 / 2).unwrap();
    } else {
      vm.unbind(addr, range).unwrap();
    }
  }
  let mut fresh = GpuVm::new("pt", 0, 1 << 48, None);
  for va in vm.iter().collect::<Vec<_>>() {
    fresh.insert(va.addr, va.range, va.obj, va.offset).unwrap();
  }
  fresh.attach_page_table(Profile::xe()).unwrap();
  assert_eq!(occ(&mut vm), occ(&mut fresh));
}

/// The occupancy kept step by step equals the one counted afresh over the
/// tables, and the one a page table built from the live mappings has, on
/// random binds and unbinds (splits included) of every built-in profile.
#[test]
fn the_occupancy_kept_is_the_one_counted() {
  for (seed, p) in [
    (3, Profile::xe()),
    (4, Profile::panthor()),
    (5, Profile::nouveau()),
  ] {
    let mut rng = crate::vmbind::SplitMix64::new(seed);
    let mut vm = vm(p.clone());
    for step in 0..600 {
      let addr = rng.below(128) * (K4 << rng.below(12));
      let range = (1 + rng.below(2000)) * (K4 << rng.below(3));
      if rng.below(3) < 2 {
        let obj = rng.below(3) as u32;
        vm.bind(addr, range, obj, rng.below(4) * M2 / 2).unwrap();
      } else {
        vm.unbind(addr, range).unwrap();
      }
      if step % 50 == 0 {
        let pt = vm.page_table().unwrap();
        assert_eq!(pt.occupancy(), pt.occupancy_counted(), "step {step}");
      }
    }
    let kept = occ(&mut vm);
    assert_eq!(kept, vm.page_table().unwrap().occupancy_counted());
    let mut fresh = GpuVm::new("pt", 0, 1 << 48, None);
    for va in vm.iter().collect::<Vec<_>>() {
      fresh.insert(va.addr, va.range, va.obj, va.offset).unwrap();
    }
    fresh.attach_page_table(p).unwrap();
    assert_eq!(kept, occ(&mut fresh));
  }
}
