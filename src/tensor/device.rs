//! Where a tensor's storage lives, spelled and parsed as `torch.device` is.
//!
//! [`Device::Cpu`] is the only backend kiln has. `"cuda:0"` parses, so that programs
//! ported from PyTorch read the same, but placing a tensor there panics as a PyTorch
//! built without CUDA does.

use std::fmt;
use std::str::FromStr;

/// A device a tensor's storage can live on (`torch.device`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Device {
    /// Host memory, run by the CPU kernels (`torch.device("cpu")`).
    #[default]
    Cpu,
    /// An NVIDIA GPU by ordinal (`torch.device("cuda:0")`); kiln has no CUDA backend,
    /// so no tensor is ever placed here.
    Cuda(usize),
}

impl Device {
    /// PyTorch's device type name (`device.type`): `"cpu"` or `"cuda"`.
    pub fn type_name(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Cuda(_) => "cuda",
        }
    }

    /// The ordinal of an indexed device (`device.index`); `None` for the CPU.
    pub fn index(self) -> Option<usize> {
        match self {
            Device::Cpu => None,
            Device::Cuda(i) => Some(i),
        }
    }

    /// Whether this build of kiln has a backend for the device.
    pub fn is_available(self) -> bool {
        matches!(self, Device::Cpu)
    }

    /// Panics, naming `op`, unless this build of kiln has a backend for the device:
    /// PyTorch's "Torch not compiled with CUDA enabled".
    pub fn check_available(self, op: &str) {
        if let Device::Cuda(_) = self {
            panic!(
                "{op}: kiln not compiled with CUDA enabled (cannot place a tensor on {self}; \
                 cpu is the only device this build has)"
            );
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// Why a device string did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseDeviceError(String);

impl fmt::Display for ParseDeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseDeviceError {}

impl FromStr for Device {
    type Err = ParseDeviceError;

    /// Parses `"cpu"`, `"cuda"` (device 0) and `"cuda:N"`, as `torch.device(str)`;
    /// `"cpu:0"` is the CPU too.
    fn from_str(s: &str) -> Result<Device, ParseDeviceError> {
        let (kind, index) = match s.split_once(':') {
            Some((k, i)) => (k, Some(i)),
            None => (s, None),
        };
        let index = match index {
            None => None,
            Some(i) => Some(
                i.parse::<usize>()
                    .map_err(|_| ParseDeviceError(format!("Invalid device string: '{s}'")))?,
            ),
        };
        match kind {
            "cpu" if index.is_none_or(|i| i == 0) => Ok(Device::Cpu),
            "cpu" => Err(ParseDeviceError(format!(
                "Device index must be 0 for the cpu device, got '{s}'"
            ))),
            "cuda" => Ok(Device::Cuda(index.unwrap_or(0))),
            _ => Err(ParseDeviceError(format!(
                "Expected one of cpu, cuda device type at start of device string: {s}"
            ))),
        }
    }
}

/// The one device shared by all of `devices`; panics, naming `op`, with PyTorch's message
/// when two differ. Returns [`Device::Cpu`] for an empty list.
pub fn same_device(op: &str, devices: impl IntoIterator<Item = Device>) -> Device {
    let mut devices = devices.into_iter();
    let Some(first) = devices.next() else {
        return Device::Cpu;
    };
    for d in devices {
        if d != first {
            panic!(
                "{op}: Expected all tensors to be on the same device, but found at least two \
                 devices, {first} and {d}!"
            );
        }
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_as_torch_device() {
        assert_eq!(Device::Cpu.to_string(), "cpu");
        assert_eq!(Device::Cuda(1).to_string(), "cuda:1");
        assert_eq!(Device::Cuda(0).type_name(), "cuda");
        assert_eq!(Device::Cuda(3).index(), Some(3));
        assert_eq!(Device::Cpu.index(), None);
        assert_eq!(Device::default(), Device::Cpu);
    }

    #[test]
    fn parses_torch_device_strings() {
        assert_eq!("cpu".parse(), Ok(Device::Cpu));
        assert_eq!("cpu:0".parse(), Ok(Device::Cpu));
        assert_eq!("cuda".parse(), Ok(Device::Cuda(0)));
        assert_eq!("cuda:0".parse(), Ok(Device::Cuda(0)));
        assert_eq!("cuda:7".parse(), Ok(Device::Cuda(7)));
        for bad in ["gpu", "cuda:x", "cuda:", "cpu:1", "", "CPU"] {
            assert!(bad.parse::<Device>().is_err(), "{bad} parsed");
        }
        let e = "tpu:0".parse::<Device>().unwrap_err().to_string();
        assert!(
            e.contains("device type at start of device string: tpu:0"),
            "{e}"
        );
    }

    #[test]
    fn only_the_cpu_is_available() {
        assert!(Device::Cpu.is_available());
        assert!(!Device::Cuda(0).is_available());
        Device::Cpu.check_available("zeros");
    }

    #[test]
    #[should_panic(expected = "zeros: kiln not compiled with CUDA enabled")]
    fn cuda_panics_as_a_build_without_cuda() {
        Device::Cuda(0).check_available("zeros");
    }

    #[test]
    fn same_device_passes_one_device() {
        assert_eq!(same_device("add", []), Device::Cpu);
        assert_eq!(same_device("add", [Device::Cpu, Device::Cpu]), Device::Cpu);
        assert_eq!(
            same_device("add", [Device::Cuda(1), Device::Cuda(1)]),
            Device::Cuda(1)
        );
    }

    #[test]
    #[should_panic(
        expected = "add: Expected all tensors to be on the same device, but found at least two \
                    devices, cpu and cuda:0!"
    )]
    fn same_device_panics_on_two() {
        same_device("add", [Device::Cpu, Device::Cpu, Device::Cuda(0)]);
    }

    #[test]
    #[should_panic(expected = "found at least two devices, cuda:0 and cuda:1!")]
    fn two_gpus_are_two_devices() {
        same_device("matmul", [Device::Cuda(0), Device::Cuda(1)]);
    }
}
