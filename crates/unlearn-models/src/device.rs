//! Choosing the compute device.

use candle_core::Device;

use crate::error::{ModelError, Result};

/// `cpu`, `cuda`, `cuda:N` or `auto`. `auto` picks CUDA when this build has it and a GPU
/// answers, otherwise the CPU (with a warning on stderr when CUDA was compiled in but unusable).
pub fn device(spec: &str) -> Result<Device> {
    let err = |reason: String| ModelError::Device {
        name: spec.to_string(),
        reason,
    };
    match spec {
        "cpu" => Ok(Device::Cpu),
        "auto" => {
            if candle_core::utils::cuda_is_available() {
                match Device::new_cuda(0) {
                    Ok(d) => Ok(d),
                    Err(e) => {
                        eprintln!("warning: CUDA is compiled in but unusable ({e}); using the CPU");
                        Ok(Device::Cpu)
                    }
                }
            } else {
                Ok(Device::Cpu)
            }
        }
        s if s == "cuda" || s.starts_with("cuda:") => {
            let ordinal = match s.strip_prefix("cuda:") {
                None => 0,
                Some(n) => n
                    .parse::<usize>()
                    .map_err(|_| err(format!("'{n}' is not a GPU number")))?,
            };
            if !candle_core::utils::cuda_is_available() {
                return Err(err(
                    "this build has no CUDA support (rebuild with `--features cuda`)".into(),
                ));
            }
            Device::new_cuda(ordinal).map_err(|e| err(e.to_string()))
        }
        other => Err(err(format!(
            "unknown device '{other}': expected cpu, cuda, cuda:N or auto"
        ))),
    }
}
