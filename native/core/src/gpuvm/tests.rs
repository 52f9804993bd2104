use super::*;

fn vm() -> GpuVm {
  GpuVm::new("t", 0, 1 << 48, Some((0, 0x1000)))
}

#[test]
fn placeholder() {
  assert_eq!(vm().len(), 1);
}
