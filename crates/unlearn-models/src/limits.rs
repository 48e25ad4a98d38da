//! The sizes a model built from user input may have, checked before anything is allocated.
//!
//! An input shape (`--input-shape`, a registry entry's, a checkpoint's metadata) and a class
//! count decide the width of some layers (the small CNN's first linear layer grows with the
//! image's area, a ViT's position embedding with its patches, every head with the classes).
//! [`check_spec`] refuses a description outside these limits, and one whose size-dependent
//! layers would take more than [`MAX_BUILT_PARAMETERS`], naming the memory it implies.

use crate::arch::ModelSpec;

/// The most input channels.
pub const MAX_CHANNELS: usize = 16;
/// The longest image side.
pub const MAX_SIDE: usize = 4096;
/// The most classes.
pub const MAX_CLASSES: usize = 100_000;
/// The most parameters the size-dependent layers of a model may have: 2^28 (1 GiB as f32).
pub const MAX_BUILT_PARAMETERS: u64 = 1 << 28;

/// A byte count as GiB or MiB, for messages.
pub fn human_bytes(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
    }
}

/// Checks an input shape `[C, H, W]` against [`MAX_CHANNELS`] and [`MAX_SIDE`].
pub fn check_input_shape(shape: [usize; 3]) -> Result<(), String> {
    let [c, h, w] = shape;
    if !(1..=MAX_CHANNELS).contains(&c)
        || !(1..=MAX_SIDE).contains(&h)
        || !(1..=MAX_SIDE).contains(&w)
    {
        return Err(format!(
            "input shape {shape:?} is not an image shape this toolkit builds models for: expected channels 1..={MAX_CHANNELS} and sides 1..={MAX_SIDE}"
        ));
    }
    Ok(())
}

/// Checks a model description before it is built: its input shape ([`check_input_shape`]),
/// classes 1..=[`MAX_CLASSES`], and at most [`MAX_BUILT_PARAMETERS`] parameters in the layers
/// whose size grows with them. The error names the architecture, the sizes and the memory.
pub fn check_spec(spec: &ModelSpec) -> Result<(), String> {
    check_input_shape(spec.input_shape)?;
    if !(1..=MAX_CLASSES).contains(&spec.num_classes) {
        return Err(format!(
            "{} classes: expected 1..={MAX_CLASSES}",
            spec.num_classes
        ));
    }
    let params = spec.size_dependent_parameters();
    if params > MAX_BUILT_PARAMETERS {
        return Err(format!(
            "{} for input {:?} and {} classes would have {params} parameters in its size-dependent layers ({} as f32); at most {MAX_BUILT_PARAMETERS} ({}) are built",
            spec.arch.name(),
            spec.input_shape,
            spec.num_classes,
            human_bytes(params.saturating_mul(4)),
            human_bytes(MAX_BUILT_PARAMETERS * 4)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;

    #[test]
    fn sizes_from_user_input_are_bounded_before_building() {
        let spec = |arch, input_shape, num_classes| ModelSpec {
            arch,
            input_shape,
            num_classes,
        };
        assert!(check_spec(&spec(Arch::SmallCnn, [1, 28, 28], 10)).is_ok());
        assert!(check_spec(&spec(Arch::ResNet18Cifar, [3, 32, 32], 100)).is_ok());
        let err = check_spec(&spec(Arch::SmallCnn, [1, 100_000, 100_000], 10)).unwrap_err();
        assert!(err.contains("sides 1..=4096"), "{err}");
        let err = check_spec(&spec(Arch::SmallCnn, [1, 4096, 4096], 10)).unwrap_err();
        assert!(
            err.contains("8589935872 parameters") && err.contains("32.0 GiB"),
            "{err}"
        );
        let err = check_spec(&spec(Arch::ResNet18, [3, 224, 224], 0)).unwrap_err();
        assert!(err.contains("0 classes"), "{err}");
    }
}
