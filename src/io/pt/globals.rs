//! The globals a PyTorch pickle may name: the ones kiln gives a fixed meaning, the ones
//! `torch.load(weights_only=True)` allows but kiln does not hold, and all the others,
//! which are refused by name. Nothing is ever imported or called.

use super::unpickle::PickleError;

/// Element types of PyTorch's legacy typed storages (`torch.FloatStorage`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StorageDtype {
    F32,
    F64,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl StorageDtype {
    /// Bytes per element.
    pub(crate) fn size(self) -> usize {
        match self {
            StorageDtype::F64 | StorageDtype::I64 => 8,
            StorageDtype::F32 | StorageDtype::I32 => 4,
            StorageDtype::F16 | StorageDtype::BF16 | StorageDtype::I16 => 2,
            StorageDtype::I8 | StorageDtype::U8 | StorageDtype::Bool => 1,
        }
    }

    /// The storage class name PyTorch writes (`FloatStorage`).
    pub(crate) fn class_name(self) -> &'static str {
        match self {
            StorageDtype::F32 => "FloatStorage",
            StorageDtype::F64 => "DoubleStorage",
            StorageDtype::F16 => "HalfStorage",
            StorageDtype::BF16 => "BFloat16Storage",
            StorageDtype::I64 => "LongStorage",
            StorageDtype::I32 => "IntStorage",
            StorageDtype::I16 => "ShortStorage",
            StorageDtype::I8 => "CharStorage",
            StorageDtype::U8 => "ByteStorage",
            StorageDtype::Bool => "BoolStorage",
        }
    }

    fn from_class_name(name: &str) -> Option<StorageDtype> {
        use StorageDtype::*;
        [F32, F64, F16, BF16, I64, I32, I16, I8, U8, Bool]
            .into_iter()
            .find(|d| d.class_name() == name)
    }
}

/// The globals kiln gives a meaning to.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Global {
    OrderedDict,
    RebuildTensorV2,
    RebuildTensor,
    RebuildParameter,
    RebuildParameterWithState,
    Storage(StorageDtype),
    Size,
    Device,
    CodecsEncode,
    Set,
    ByteArray,
    /// A `torch.float32`-style dtype object, kept as its name.
    Dtype(String),
}

/// Names `torch.load(weights_only=True)` allows but kiln does not load: refused as
/// unsupported rather than forbidden.
const ALLOWED_UNSUPPORTED: &[&str] = &[
    "collections.Counter",
    "torch.nn.parameter.Parameter",
    "torch.serialization._get_layout",
    "torch.Tensor",
    "builtins.complex",
    "torch._utils._rebuild_qtensor",
    "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_sparse_tensor",
    "torch._utils._rebuild_meta_tensor_no_storage",
    "torch._utils._rebuild_wrapper_subclass",
    "torch._utils._rebuild_device_tensor_from_numpy",
    "torch._utils._rebuild_device_tensor_from_cpu_tensor",
    "torch._tensor._rebuild_from_type_v2",
    "torch.per_tensor_affine",
    "torch.per_tensor_symmetric",
    "torch.per_channel_affine",
    "torch.per_channel_symmetric",
    "torch.per_channel_affine_float_qparams",
];

const DTYPE_NAMES: &[&str] = &[
    "float32",
    "float64",
    "float16",
    "bfloat16",
    "int64",
    "int32",
    "int16",
    "int8",
    "uint8",
    "bool",
    "complex64",
    "complex128",
];

pub(crate) fn resolve_global(module: &str, name: &str) -> Result<Global, PickleError> {
    // Python 2 spellings, as pickle's NAME_MAPPING maps them.
    let module = match module {
        "__builtin__" => "builtins",
        m => m,
    };
    let full = format!("{module}.{name}");
    let g = match full.as_str() {
        "collections.OrderedDict" => Global::OrderedDict,
        "torch._utils._rebuild_tensor_v2" => Global::RebuildTensorV2,
        "torch._utils._rebuild_tensor" => Global::RebuildTensor,
        "torch._utils._rebuild_parameter" => Global::RebuildParameter,
        "torch._utils._rebuild_parameter_with_state" => Global::RebuildParameterWithState,
        "torch.Size" => Global::Size,
        "torch.device" => Global::Device,
        "_codecs.encode" => Global::CodecsEncode,
        "builtins.set" => Global::Set,
        "builtins.bytearray" => Global::ByteArray,
        _ if module == "torch" && StorageDtype::from_class_name(name).is_some() => {
            Global::Storage(StorageDtype::from_class_name(name).expect("checked"))
        }
        _ if module == "torch" && DTYPE_NAMES.contains(&name) => Global::Dtype(full),
        _ if ALLOWED_UNSUPPORTED.contains(&full.as_str())
            || (module == "torch" && name.ends_with("Storage")) =>
        {
            return Err(PickleError::Unsupported(format!("the global {full}")));
        }
        _ => return Err(PickleError::Forbidden(full)),
    };
    Ok(g)
}
