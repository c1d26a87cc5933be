// Prints the layout of every type in the reference-compatible
// include/reference/orchestration_api.h, the values of its enums and
// constants, what its helpers compute and which table entry each wrapper
// calls, as "name value" lines for tests/reference_layout.rs.
#include <cstddef>
#include <cstdint>
#include <cstdio>

#include "orchestration_api.h"
#include "orchestration_api.h"  // twice: the include guard must hold

#define SIZE(T)                                                                                    \
    std::printf("sizeof.%s %llu\nalignof.%s %llu\n", #T, (unsigned long long)sizeof(T), #T,        \
                (unsigned long long)alignof(T))
#define FIELD(T, f)                                                                                \
    std::printf("offsetof.%s.%s %llu\nsizeof.%s.%s %llu\n", #T, #f, (unsigned long long)offsetof(T, f), \
                #T, #f, (unsigned long long)sizeof(((T *)nullptr)->f))
#define VALUE(name, v) std::printf("%s %lld\n", name, (long long)(v))

// Which table entry the last wrapper call reached.
static int g_called = -1;

static int op_add_task(OrchestrationRuntime *, uint64_t *, int, int, CoreType) { return g_called = 0; }
static void op_add_successor(OrchestrationRuntime *, int, int) { g_called = 1; }
static void op_record_tensor_pair(OrchestrationRuntime *, void *, void *, size_t) { g_called = 2; }
static int op_get_task_count(OrchestrationRuntime *) { return g_called = 3; }
static void op_print_runtime(OrchestrationRuntime *) { g_called = 4; }
static void *op_device_malloc(OrchestrationRuntime *, size_t) {
    g_called = 5;
    return nullptr;
}
static void op_device_free(OrchestrationRuntime *, void *) { g_called = 6; }
static int op_copy_to_device(OrchestrationRuntime *, void *, const void *, size_t) { return g_called = 7; }

int main() {
    SIZE(CoreType);
    SIZE(DataType);
    SIZE(ContinuousTensor);
    FIELD(ContinuousTensor, data);
    FIELD(ContinuousTensor, shapes);
    FIELD(ContinuousTensor, ndims);
    FIELD(ContinuousTensor, dtype);
    SIZE(ChipStorageTaskArgs);
    FIELD(ChipStorageTaskArgs, tensors_);
    FIELD(ChipStorageTaskArgs, scalars_);
    FIELD(ChipStorageTaskArgs, tensor_count_);
    FIELD(ChipStorageTaskArgs, scalar_count_);
    SIZE(OrchestrationRuntime);
    FIELD(OrchestrationRuntime, ops);
    SIZE(OrchestrationRuntimeOps);
    FIELD(OrchestrationRuntimeOps, add_task);
    FIELD(OrchestrationRuntimeOps, add_successor);
    FIELD(OrchestrationRuntimeOps, record_tensor_pair);
    FIELD(OrchestrationRuntimeOps, get_task_count);
    FIELD(OrchestrationRuntimeOps, print_runtime);
    FIELD(OrchestrationRuntimeOps, device_malloc);
    FIELD(OrchestrationRuntimeOps, device_free);
    FIELD(OrchestrationRuntimeOps, copy_to_device);
    SIZE(OrchestrationFunc);

    VALUE("const.CHIP_MAX_TENSOR_ARGS", CHIP_MAX_TENSOR_ARGS);
    VALUE("enum.CoreType.AIC", static_cast<int32_t>(CoreType::AIC));
    VALUE("enum.CoreType.AIV", static_cast<int32_t>(CoreType::AIV));
    const DataType types[] = {DataType::FLOAT32, DataType::FLOAT16, DataType::INT32,
                              DataType::INT16,   DataType::INT8,    DataType::UINT8,
                              DataType::BFLOAT16, DataType::INT64,  DataType::UINT64};
    const char *names[] = {"FLOAT32", "FLOAT16", "INT32", "INT16", "INT8", "UINT8", "BFLOAT16", "INT64", "UINT64"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        std::printf("enum.DataType.%s %d\n", names[i], static_cast<int>(types[i]));
        std::printf("element_size.%s %llu\n", names[i], (unsigned long long)get_element_size(types[i]));
    }

    // nbytes over the first ndims extents only; data_as is the address.
    static float host[6];
    ContinuousTensor t{};
    t.data = reinterpret_cast<uintptr_t>(host);
    t.shapes[0] = 2;
    t.shapes[1] = 3;
    t.shapes[2] = 1000;
    t.ndims = 2;
    t.dtype = DataType::FLOAT32;
    VALUE("tensor.nbytes", t.nbytes());
    VALUE("tensor.data_as_is_data", t.data_as<float>() == host && t.data_as<void>() == host);

    // Accessors read the fields they name.
    static ChipStorageTaskArgs args{};
    args.tensors_[3].ndims = 4;
    args.scalars_[127] = 0xABCD;
    args.tensor_count_ = 4;
    args.scalar_count_ = 128;
    VALUE("args.tensor3_ndims", args.tensor(3).ndims);
    VALUE("args.scalar127", args.scalar(127));
    VALUE("args.scalars_is_storage", args.scalars() == args.scalars_ && args.scalar_data() == args.scalars_);
    VALUE("args.tensor_data_is_storage", args.tensor_data() == args.tensors_);
    VALUE("args.tensor_count", args.tensor_count());
    VALUE("args.scalar_count", args.scalar_count());

    // Each wrapper calls its own entry of the table.
    const OrchestrationRuntimeOps ops = {op_add_task,    op_add_successor, op_record_tensor_pair,
                                         op_get_task_count, op_print_runtime, op_device_malloc,
                                         op_device_free, op_copy_to_device};
    OrchestrationRuntime rt{&ops};
    uint64_t word = 0;
    VALUE("wrapper.add_task", (add_task(&rt, &word, 1, 0, CoreType::AIV), g_called));
    VALUE("wrapper.add_successor", (add_successor(&rt, 0, 1), g_called));
    VALUE("wrapper.record_tensor_pair", (record_tensor_pair(&rt, &word, &word, 8), g_called));
    VALUE("wrapper.get_task_count", (get_task_count(&rt), g_called));
    VALUE("wrapper.print_runtime", (print_runtime(&rt), g_called));
    VALUE("wrapper.device_malloc", (device_malloc(&rt, 8), g_called));
    VALUE("wrapper.device_free", (device_free(&rt, &word), g_called));
    VALUE("wrapper.copy_to_device", (copy_to_device(&rt, &word, &word, 8), g_called));

    VALUE("symbol.hostgraph_orch_reference_api", hostgraph_orch_reference_api);
    return 0;
}
