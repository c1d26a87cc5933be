/*
 * Uses the parts of the reference's orchestration interface beyond the
 * entry and the ops table -- its other include names, the argument
 * builders, the scalar-bit helpers, the type names -- as orchestration
 * code written for the reference does. Returns the number of the first
 * check that fails (0: all held), and adds one task from what the helpers
 * give, for the host to check.
 */
#include <cstring>

#include "common/core_type.h"
#include "data_type.h"
#include "task_args.h"
#include "tensor_arg.h"

namespace {

// 0 if f throws an exception of type E, else 1.
template <typename E, typename F>
int throws(F f) {
    try {
        f();
    } catch (const E &) {
        return 0;
    }
    return 1;
}

int check(const ChipStorageTaskArgs &orch_args) {
    // 1-2: counts start at 0; a copy refills from the entry's arguments.
    ChipStorageTaskArgs local;
    if (local.tensor_count() != 0 || local.scalar_count() != 0) return 1;
    for (int i = 0; i < orch_args.tensor_count() && i < CHIP_MAX_TENSOR_ARGS; i++) local.add_tensor(orch_args.tensor(i));
    if (local.tensor_count() != orch_args.tensor_count()) return 2;
    // 3: tensors before scalars.
    local.add_scalar(7);
    if (throws<std::logic_error>([&] { local.add_tensor(ContinuousTensor{}); })) return 3;
    // 4-5: capacities.
    local.clear();
    if (local.tensor_count() != 0 || local.scalar_count() != 0) return 4;
    for (int i = 0; i < 128; i++) local.add_scalar(static_cast<uint64_t>(i));
    if (throws<std::out_of_range>([&] { local.add_scalar(0); })) return 5;
    local.clear();
    for (int i = 0; i < CHIP_MAX_TENSOR_ARGS; i++) local.add_tensor(ContinuousTensor{});
    if (throws<std::out_of_range>([&] { local.add_tensor(ContinuousTensor{}); })) return 5;
    // 6: elements are writable through the accessors.
    local.tensor(0).ndims = 2;
    local.tensor(0).shapes[0] = 3;
    local.tensor(0).shapes[1] = CONTINUOUS_TENSOR_MAX_DIMS;
    local.tensor(0).dtype = DataType::FLOAT16;
    local.add_scalar(1);
    local.scalar(0) = 9;
    if (local.tensor(0).nbytes() != 30 || local.scalar(0) != 9) return 6;
    // 7: scalar bits.
    if (to_u64(1.5f) != 0x3FC00000u || from_u64<float>(to_u64(-2.25f)) != -2.25f) return 7;
    if (to_u64<int32_t>(-1) != 0xFFFFFFFFu || from_u64<double>(to_u64(0.125)) != 0.125) return 7;
    // 8: type names.
    if (std::strcmp(get_dtype_name(DataType::BFLOAT16), "BFLOAT16") != 0) return 8;
    if (std::strcmp(get_dtype_name(DataType::DATA_TYPE_NUM), "UNKNOWN") != 0) return 8;
    if (static_cast<int>(DataType::DATA_TYPE_NUM) != 9 || get_element_size(DataType::DATA_TYPE_NUM) != 0) return 8;
    // 9: core type names.
    if (core_type_from_string("aiv") != CoreType::AIV || core_type_from_string("AIC") != CoreType::AIC ||
        core_type_from_string(nullptr) != CoreType::AIC || core_type_from_string("npu") != CoreType::AIC)
        return 9;
    if (std::strcmp(core_type_to_string(CoreType::AIV), "AIV") != 0) return 9;
    return 0;
}

}  // namespace

extern "C" int build_helpers_graph(OrchestrationRuntime *runtime, const ChipStorageTaskArgs &orch_args) {
    int failed = check(orch_args);
    if (failed != 0) return failed;
    // The entry's scalar 0, a float, back and forth; and 1.5 as the reference packs it.
    uint64_t args[2] = {to_u64(from_u64<float>(orch_args.scalar(0)) * 2.0f), to_u64(1.5f)};
    return add_task(runtime, args, 2, 0, core_type_from_string("aiv")) == 0 ? 0 : 100;
}
