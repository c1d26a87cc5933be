/*
 * orchestration_api.h -- hostgraph's source-compatible rendition of the
 * orchestration interface of the reference runtime (simpler's
 * host_build_graph), so that an orchestration source written for it
 * compiles unchanged with
 *
 *     g++ -std=c++17 -O2 -fPIC -shared -I <hostgraph>/orch_abi/include/reference \
 *         my_orch.cpp -o libmy_orch.so
 *
 * and runs on hostgraph (hostgraph::ReferencePlugin). Written for hostgraph
 * from the reference's documented interface; C++ only (enum class, a
 * reference parameter in the entry).
 *
 * What it provides, with the reference's names, layouts and order:
 *  - CoreType (enum class : int32_t, AIC = 0, AIV = 1),
 *    core_type_from_string() and core_type_to_string();
 *  - DataType (enum class : uint8_t, DATA_TYPE_NUM last), get_element_size()
 *    and get_dtype_name(); to_u64<T>() and from_u64<T>(), a scalar's bits
 *    as an argument word and back (a float in the low 32 bits);
 *  - ContinuousTensor (40 bytes: data, shapes[CONTINUOUS_TENSOR_MAX_DIMS = 5],
 *    ndims, dtype) with nbytes() and data_as<T>();
 *  - TaskArgs<T, S, MaxT, MaxS> (counts start at 0; tensor(i), scalar(i),
 *    add_tensor() and add_scalar() -- std::logic_error for a tensor after a
 *    scalar, std::out_of_range past capacity -- and clear()) and
 *    ChipStorageTaskArgs = TaskArgs<ContinuousTensor, uint64_t,
 *    CHIP_MAX_TENSOR_ARGS (an int, 16), 128>, the entry's argument;
 *  - OrchestrationRuntime { const OrchestrationRuntimeOps *ops; } and the
 *    ops table (no version or size field), with static inline wrappers of
 *    the same names that call through runtime->ops;
 *  - OrchestrationFunc, the entry's type:
 *        extern "C" int build_xxx_graph(OrchestrationRuntime *runtime,
 *                                       const ChipStorageTaskArgs &orch_args);
 *    returning 0 on success. The host is told the symbol name.
 *  - the standard headers the reference's bring in (<array>, <cstring>,
 *    <stdexcept>, <vector>), and headers of the reference's include names
 *    that include this one: data_type.h, tensor_arg.h, task_args.h and
 *    common/core_type.h.
 * Not provided: the tensor tags and argument directions (TensorArgType,
 * TaggedTaskArgs, ArgDirection, arg_direction_name), the growable
 * DynamicTaskArgs, the host's Callable types (callable.h), and the
 * constants declared beside the argument directions (CORE_MAX_TENSOR_ARGS,
 * CALLABLE_ALIGN, callable_align_up), which a host_build_graph
 * orchestration does not use.
 *
 * Behaviour on hostgraph (where it differs from the reference): every call
 * that fails -- an edge to a task that does not exist, a bad core type, a
 * device pointer that was never allocated, ... -- is latched by the runtime
 * and fails the build with an error naming the bad id or size, even if the
 * orchestration ignores the return value (add_successor, record_tensor_pair
 * and device_free return nothing, as in the reference). add_task returns a
 * negative value on failure. print_runtime writes nothing to stdout: it
 * hands a one-line summary of the graph so far to the host's log, as a
 * record of level info with target "hostgraph::print_runtime" (Rust's `log`
 * crate); the host decides whether and where it appears (the hostgraph
 * examples: RUST_LOG=info). The runtime pointer is valid only during the
 * entry call and on its thread: a call through it afterwards, or from
 * another thread, is refused (and one made while the entry runs fails the
 * build). An exception must not escape the entry (catch it and return
 * non-zero): the runtime cannot catch it, and the process aborts.
 *
 * The header also defines the weak, default-visibility marker
 * `hostgraph_orch_reference_api`, so that hostgraph can tell an
 * orchestration built against this header from a native one and refuse to
 * load it through the wrong interface.
 */
#ifndef HOSTGRAPH_REFERENCE_ORCHESTRATION_API_H
#define HOSTGRAPH_REFERENCE_ORCHESTRATION_API_H

#ifndef __cplusplus
#error "the reference-compatible orchestration_api.h is C++: compile the orchestration as C++17"
#endif

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <type_traits>
#include <vector>

/* ---- core and data types ------------------------------------------------ */

/* The kind of AICore a task runs on. */
enum class CoreType : int32_t {
    AIC = 0, /* cube (matrix) core */
    AIV = 1  /* vector core */
};

/* "aiv" or "AIV" is AIV; anything else (NULL too) AIC. */
inline CoreType core_type_from_string(const char *name) {
    if (name != nullptr && (std::strcmp(name, "aiv") == 0 || std::strcmp(name, "AIV") == 0)) return CoreType::AIV;
    return CoreType::AIC;
}

/* "AIC", "AIV", or "UNKNOWN" for a value outside the enum. */
inline const char *core_type_to_string(CoreType core_type) {
    switch (core_type) {
    case CoreType::AIC:
        return "AIC";
    case CoreType::AIV:
        return "AIV";
    }
    return "UNKNOWN";
}

/* Element type of a ContinuousTensor; DATA_TYPE_NUM counts them. */
enum class DataType : uint8_t { FLOAT32, FLOAT16, INT32, INT16, INT8, UINT8, BFLOAT16, INT64, UINT64, DATA_TYPE_NUM };

/* Bytes per element of dtype (0 for a value outside the enum). */
inline uint64_t get_element_size(DataType dtype) {
    switch (dtype) {
    case DataType::FLOAT32:
    case DataType::INT32:
        return 4;
    case DataType::FLOAT16:
    case DataType::INT16:
    case DataType::BFLOAT16:
        return 2;
    case DataType::INT8:
    case DataType::UINT8:
        return 1;
    case DataType::INT64:
    case DataType::UINT64:
        return 8;
    case DataType::DATA_TYPE_NUM:
        break;
    }
    return 0;
}

/* The enumerator's name ("FLOAT32", ...), or "UNKNOWN". */
inline const char *get_dtype_name(DataType dtype) {
    static const char *const names[] = {"FLOAT32", "FLOAT16", "INT32", "INT16", "INT8",
                                        "UINT8",   "BFLOAT16", "INT64", "UINT64"};
    size_t i = static_cast<size_t>(dtype);
    return i < sizeof names / sizeof names[0] ? names[i] : "UNKNOWN";
}

/* A value's bytes as an argument word, zero-extended (a float: its bit
 * pattern in the low 32 bits). */
template <typename T>
inline uint64_t to_u64(T value) {
    static_assert(sizeof(T) <= sizeof(uint64_t), "to_u64: the value must fit in 8 bytes");
    static_assert(std::is_trivially_copyable<T>::value, "to_u64: the value must be trivially copyable");
    uint64_t word = 0;
    std::memcpy(&word, &value, sizeof(T));
    return word;
}

/* The value whose bytes begin an argument word (to_u64's inverse). */
template <typename T>
inline T from_u64(uint64_t word) {
    static_assert(sizeof(T) <= sizeof(uint64_t), "from_u64: the value must fit in 8 bytes");
    static_assert(std::is_trivially_copyable<T>::value, "from_u64: the value must be trivially copyable");
    T value;
    std::memcpy(&value, &word, sizeof(T));
    return value;
}

/* ---- the entry's arguments ---------------------------------------------- */

/* Most extents a ContinuousTensor has. */
constexpr int CONTINUOUS_TENSOR_MAX_DIMS = 5;

/* A host tensor handed to the entry: its address, extents and dtype. */
struct ContinuousTensor {
    uint64_t data;                               /* host address of the first element */
    uint32_t shapes[CONTINUOUS_TENSOR_MAX_DIMS]; /* extents; only the first ndims are meaningful */
    uint32_t ndims;
    DataType dtype;

    /* Bytes of data: the product of the first ndims extents times the element size. */
    uint64_t nbytes() const {
        uint64_t n = get_element_size(dtype);
        for (uint32_t i = 0; i < ndims && i < CONTINUOUS_TENSOR_MAX_DIMS; i++) n *= shapes[i];
        return n;
    }

    /* The data as a T pointer. */
    template <typename T>
    T *data_as() const {
        return reinterpret_cast<T *>(static_cast<uintptr_t>(data));
    }
};

/* Fixed-capacity arguments: MaxT tensors, then MaxS scalars, then the
 * counts. Tensors come first: add_tensor after add_scalar throws
 * std::logic_error, either past its capacity std::out_of_range. */
template <typename T, typename S, size_t MaxT, size_t MaxS>
struct TaskArgs {
    T tensors_[MaxT];
    S scalars_[MaxS];
    int32_t tensor_count_{0};
    int32_t scalar_count_{0};

    void add_tensor(const T &t) {
        if (scalar_count_ > 0) throw std::logic_error("TaskArgs: a tensor after a scalar");
        if (static_cast<size_t>(tensor_count_) >= MaxT) throw std::out_of_range("TaskArgs: tensors full");
        tensors_[tensor_count_++] = t;
    }
    void add_scalar(S s) {
        if (static_cast<size_t>(scalar_count_) >= MaxS) throw std::out_of_range("TaskArgs: scalars full");
        scalars_[scalar_count_++] = s;
    }
    void clear() {
        tensor_count_ = 0;
        scalar_count_ = 0;
    }

    const T &tensor(int32_t i) const { return tensors_[i]; }
    T &tensor(int32_t i) { return tensors_[i]; }
    S scalar(int32_t i) const { return scalars_[i]; }
    S &scalar(int32_t i) { return scalars_[i]; }
    const S *scalars() const { return scalars_; }
    const T *tensor_data() const { return tensors_; }
    const S *scalar_data() const { return scalars_; }
    int32_t tensor_count() const { return tensor_count_; }
    int32_t scalar_count() const { return scalar_count_; }
};

/* Most tensors an entry receives (an int, as in the reference: a loop
 * `for (int i = 0; i < CHIP_MAX_TENSOR_ARGS; i++)` compares like types). */
inline constexpr int CHIP_MAX_TENSOR_ARGS = 16;

/* The entry's argument: 16 tensors and 128 scalar words (raw 64-bit; a
 * float scalar is its bit pattern in the low 32 bits). */
using ChipStorageTaskArgs = TaskArgs<ContinuousTensor, uint64_t, CHIP_MAX_TENSOR_ARGS, 128>;

/* ---- the runtime and its ops table -------------------------------------- */

typedef struct OrchestrationRuntime OrchestrationRuntime;

/* The table the runtime fills, in the reference's order. */
typedef struct OrchestrationRuntimeOps {
    /* the new task's id (>= 0), or a negative value on failure */
    int (*add_task)(OrchestrationRuntime *runtime, uint64_t *args, int num_args, int func_id, CoreType core_type);
    /* to_task waits for from_task */
    void (*add_successor)(OrchestrationRuntime *runtime, int from_task, int to_task);
    /* copy size bytes of dev_ptr back to host_ptr when the run is finalized */
    void (*record_tensor_pair)(OrchestrationRuntime *runtime, void *host_ptr, void *dev_ptr, size_t size);
    int (*get_task_count)(OrchestrationRuntime *runtime);
    /* hostgraph: logs a one-line summary of the graph so far through the
     * host's log (level info, target "hostgraph::print_runtime"), not to
     * stdout; the host decides whether it appears (the hostgraph examples:
     * RUST_LOG=info) */
    void (*print_runtime)(OrchestrationRuntime *runtime);
    /* NULL on failure */
    void *(*device_malloc)(OrchestrationRuntime *runtime, size_t size);
    void (*device_free)(OrchestrationRuntime *runtime, void *ptr);
    /* 0 on success, negative on failure */
    int (*copy_to_device)(OrchestrationRuntime *runtime, void *dev_ptr, const void *host_ptr, size_t size);
} OrchestrationRuntimeOps;

struct OrchestrationRuntime {
    const OrchestrationRuntimeOps *ops;
};

static inline int add_task(OrchestrationRuntime *runtime, uint64_t *args, int num_args, int func_id,
                           CoreType core_type) {
    return runtime->ops->add_task(runtime, args, num_args, func_id, core_type);
}

static inline void add_successor(OrchestrationRuntime *runtime, int from_task, int to_task) {
    runtime->ops->add_successor(runtime, from_task, to_task);
}

static inline void record_tensor_pair(OrchestrationRuntime *runtime, void *host_ptr, void *dev_ptr, size_t size) {
    runtime->ops->record_tensor_pair(runtime, host_ptr, dev_ptr, size);
}

static inline int get_task_count(OrchestrationRuntime *runtime) { return runtime->ops->get_task_count(runtime); }

static inline void print_runtime(OrchestrationRuntime *runtime) { runtime->ops->print_runtime(runtime); }

static inline void *device_malloc(OrchestrationRuntime *runtime, size_t size) {
    return runtime->ops->device_malloc(runtime, size);
}

static inline void device_free(OrchestrationRuntime *runtime, void *ptr) { runtime->ops->device_free(runtime, ptr); }

static inline int copy_to_device(OrchestrationRuntime *runtime, void *dev_ptr, const void *host_ptr, size_t size) {
    return runtime->ops->copy_to_device(runtime, dev_ptr, host_ptr, size);
}

/* The entry's type. */
typedef int (*OrchestrationFunc)(OrchestrationRuntime *runtime, const ChipStorageTaskArgs &orch_args);

/* ---- layouts, as hostgraph's Rust mirror (hostgraph_orch_abi::reference) has them */

static_assert(sizeof(CoreType) == 4 && static_cast<int32_t>(CoreType::AIC) == 0 &&
                  static_cast<int32_t>(CoreType::AIV) == 1,
              "CoreType: int32_t, AIC = 0, AIV = 1");
static_assert(sizeof(DataType) == 1 && static_cast<int>(DataType::FLOAT32) == 0 &&
                  static_cast<int>(DataType::BFLOAT16) == 6 && static_cast<int>(DataType::UINT64) == 8 &&
                  static_cast<int>(DataType::DATA_TYPE_NUM) == 9,
              "DataType: uint8_t, FLOAT32 = 0 .. UINT64 = 8, DATA_TYPE_NUM = 9");
static_assert(std::is_standard_layout<ContinuousTensor>::value, "ContinuousTensor is standard layout");
static_assert(sizeof(ContinuousTensor) == 40 && alignof(ContinuousTensor) == 8, "ContinuousTensor is 40 bytes");
static_assert(offsetof(ContinuousTensor, data) == 0 && offsetof(ContinuousTensor, shapes) == 8 &&
                  offsetof(ContinuousTensor, ndims) == 28 && offsetof(ContinuousTensor, dtype) == 32,
              "ContinuousTensor field offsets");
static_assert(std::is_standard_layout<ChipStorageTaskArgs>::value, "ChipStorageTaskArgs is standard layout");
static_assert(offsetof(ChipStorageTaskArgs, tensors_) == 0 && offsetof(ChipStorageTaskArgs, scalars_) == 16 * 40 &&
                  offsetof(ChipStorageTaskArgs, tensor_count_) == 16 * 40 + 128 * 8 &&
                  offsetof(ChipStorageTaskArgs, scalar_count_) == 16 * 40 + 128 * 8 + 4,
              "ChipStorageTaskArgs field offsets");
static_assert(sizeof(ChipStorageTaskArgs) == 16 * 40 + 128 * 8 + 8 && alignof(ChipStorageTaskArgs) == 8,
              "ChipStorageTaskArgs is 1672 bytes");
static_assert(sizeof(OrchestrationRuntime) == sizeof(void *) && offsetof(OrchestrationRuntime, ops) == 0,
              "OrchestrationRuntime holds only the ops pointer");
static_assert(sizeof(OrchestrationRuntimeOps) == 8 * sizeof(void *), "eight entries, no version or size field");
static_assert(offsetof(OrchestrationRuntimeOps, add_task) == 0 * sizeof(void *) &&
                  offsetof(OrchestrationRuntimeOps, add_successor) == 1 * sizeof(void *) &&
                  offsetof(OrchestrationRuntimeOps, record_tensor_pair) == 2 * sizeof(void *) &&
                  offsetof(OrchestrationRuntimeOps, get_task_count) == 3 * sizeof(void *) &&
                  offsetof(OrchestrationRuntimeOps, print_runtime) == 4 * sizeof(void *) &&
                  offsetof(OrchestrationRuntimeOps, device_malloc) == 5 * sizeof(void *) &&
                  offsetof(OrchestrationRuntimeOps, device_free) == 6 * sizeof(void *) &&
                  offsetof(OrchestrationRuntimeOps, copy_to_device) == 7 * sizeof(void *),
              "ops table order");

/* ---- the marker hostgraph's loader looks for ----------------------------- */

#if defined(__GNUC__) || defined(__clang__)
extern "C" {
/* Revision of this header's interface; defined weak, so any number of
 * translation units may include the header. */
__attribute__((weak, visibility("default"))) extern const uint32_t hostgraph_orch_reference_api;
__attribute__((weak, visibility("default"))) extern const uint32_t hostgraph_orch_reference_api = 1;
}
#else
#error "orchestration_api.h needs GCC/Clang attributes (weak, visibility) to export its marker"
#endif

#endif /* HOSTGRAPH_REFERENCE_ORCHESTRATION_API_H */
