/*
 * vector_example, written for the reference runtime's orchestration
 * interface: f = (a + b + 1) * (a + b + 2).
 *
 * Args: tensors [a, b, f] (f32, SIZE = tensor(0).shapes[0] elements each).
 * Four AIV tasks: t0 c = a + b (func 0), t1 d = c + 1 and t2 e = c + 2
 * (func 1, scalar as f32 bits), t3 f = d * e (func 2); edges t0 -> t1,
 * t0 -> t2, t1 -> t3, t2 -> t3. f is recorded for copy-back.
 */
#include <cstdint>
#include <cstring>
#include <iostream>

#include "orchestration_api.h"

namespace {

uint64_t float_bits(float value) {
    uint32_t bits = 0;
    std::memcpy(&bits, &value, sizeof bits);
    return bits;
}

uint64_t address(void *p) { return reinterpret_cast<uint64_t>(p); }

}  // namespace

extern "C" int build_example_graph(OrchestrationRuntime *runtime, const ChipStorageTaskArgs &orch_args) {
    if (orch_args.tensor_count() < 3) {
        std::cerr << "build_example_graph: expected tensors [a, b, f], got " << orch_args.tensor_count() << '\n';
        return -1;
    }
    const uint32_t size = orch_args.tensor(0).shapes[0];
    const size_t bytes = orch_args.tensor(0).nbytes();
    for (int i = 1; i < 3; i++) {
        if (orch_args.tensor(i).nbytes() != bytes) {
            std::cerr << "build_example_graph: tensor " << i << " holds " << orch_args.tensor(i).nbytes()
                      << " bytes, tensor 0 " << bytes << '\n';
            return -1;
        }
    }
    std::cout << "build_example_graph: f = (a + b + 1)(a + b + 2) over " << size << " elements\n";

    void *dev_a = device_malloc(runtime, bytes);
    void *dev_b = device_malloc(runtime, bytes);
    void *dev_f = device_malloc(runtime, bytes);
    void *dev_c = device_malloc(runtime, bytes);
    void *dev_d = device_malloc(runtime, bytes);
    void *dev_e = device_malloc(runtime, bytes);
    if (!dev_a || !dev_b || !dev_f || !dev_c || !dev_d || !dev_e) {
        std::cerr << "build_example_graph: device_malloc failed\n";
        return -1;
    }
    copy_to_device(runtime, dev_a, orch_args.tensor(0).data_as<void>(), bytes);
    copy_to_device(runtime, dev_b, orch_args.tensor(1).data_as<void>(), bytes);
    record_tensor_pair(runtime, orch_args.tensor(2).data_as<void>(), dev_f, bytes);

    uint64_t add_args[4] = {address(dev_a), address(dev_b), address(dev_c), size};
    uint64_t plus_one_args[4] = {address(dev_c), float_bits(1.0f), address(dev_d), size};
    uint64_t plus_two_args[4] = {address(dev_c), float_bits(2.0f), address(dev_e), size};
    uint64_t mul_args[4] = {address(dev_d), address(dev_e), address(dev_f), size};
    int t0 = add_task(runtime, add_args, 4, 0, CoreType::AIV);
    int t1 = add_task(runtime, plus_one_args, 4, 1, CoreType::AIV);
    int t2 = add_task(runtime, plus_two_args, 4, 1, CoreType::AIV);
    int t3 = add_task(runtime, mul_args, 4, 2, CoreType::AIV);
    add_successor(runtime, t0, t1);
    add_successor(runtime, t0, t2);
    add_successor(runtime, t1, t3);
    add_successor(runtime, t2, t3);

    std::cout << "build_example_graph: " << get_task_count(runtime) << " tasks\n";
    print_runtime(runtime);
    return 0;
}
