/*
 * paged_attention, written for the reference runtime's orchestration
 * interface: decode attention over a paged KV cache.
 *
 * Args: tensors [query (batch, heads, head_dim) f16, key_cache and
 * value_cache (blocks, block_size, kv_heads, head_dim) f16, block_table
 * (batch, max_blocks) i32, context_lens (batch) i32, out (batch * heads,
 * head_dim) f32], scalars [softmax scale as f32 bits].
 *
 * Heads are tiled by q_tile = min(heads, 128). Per (batch, head tile, KV
 * block) four tasks with the reference's argument words:
 *   QK (AIC, func 0: qi, kj, sij, q_tile, head_dim, block_size)
 *   SF (AIV, func 1: sij, scale bits, pij, mij, lij, q_tile, block_size)
 *   PV (AIC, func 2: pij, vj, oi_new, q_tile, block_size, head_dim)
 *   UP (AIV, func 3: mij, lij, oi_new, mi, li, oi, is_first, is_last, out, q_tile, head_dim)
 * with QK -> SF -> PV -> UP, and UP of block j -> UP of block j + 1.
 *
 * The reference's kernels read a block's key and value rows contiguously
 * and attend to every position of a block, so this orchestration takes
 * one KV head and contexts of whole blocks, and refuses anything else.
 */
#include <algorithm>
#include <cstdint>
#include <iostream>

#include "orchestration_api.h"

namespace {

uint64_t address(void *p) { return reinterpret_cast<uint64_t>(p); }

// Device memory of n bytes, or nullptr (reported).
void *scratch(OrchestrationRuntime *runtime, size_t n) {
    void *p = device_malloc(runtime, n);
    if (p == nullptr) std::cerr << "build_paged_attention_graph: device_malloc(" << n << ") failed\n";
    return p;
}

// A device copy of tensor i, or nullptr.
void *upload(OrchestrationRuntime *runtime, const ChipStorageTaskArgs &orch_args, int i) {
    void *dev = scratch(runtime, orch_args.tensor(i).nbytes());
    if (dev != nullptr) copy_to_device(runtime, dev, orch_args.tensor(i).data_as<void>(), orch_args.tensor(i).nbytes());
    return dev;
}

}  // namespace

extern "C" int build_paged_attention_graph(OrchestrationRuntime *runtime, const ChipStorageTaskArgs &orch_args) {
    if (orch_args.tensor_count() < 6 || orch_args.scalar_count() < 1) {
        std::cerr << "build_paged_attention_graph: expected 6 tensors and the scale, got "
                  << orch_args.tensor_count() << " tensors and " << orch_args.scalar_count() << " scalars\n";
        return -1;
    }
    const ContinuousTensor &query = orch_args.tensor(0), &key_cache = orch_args.tensor(1);
    const uint32_t batch = query.shapes[0], num_heads = query.shapes[1], head_dim = query.shapes[2];
    const uint32_t block_size = key_cache.shapes[1], kv_head_num = key_cache.shapes[2];
    const uint32_t max_num_blocks = orch_args.tensor(3).shapes[1];
    const int32_t *block_table = orch_args.tensor(3).data_as<int32_t>();
    const int32_t *context_lens = orch_args.tensor(4).data_as<int32_t>();
    const uint64_t scale_bits = orch_args.scalar(0);
    const uint32_t q_tile = std::min(num_heads, 128u);
    const uint32_t head_tiles = (num_heads + q_tile - 1) / q_tile;

    std::cout << "build_paged_attention_graph: batch " << batch << ", heads " << num_heads << " (kv " << kv_head_num
              << "), head_dim " << head_dim << ", block_size " << block_size << ", q_tile " << q_tile << '\n';
    if (query.dtype != DataType::FLOAT16 || kv_head_num != 1 || num_heads % q_tile != 0) {
        std::cerr << "build_paged_attention_graph: needs FLOAT16 q/k/v, one KV head and whole head tiles\n";
        return -1;
    }
    for (uint32_t b = 0; b < batch; b++) {
        if (context_lens[b] < 1 || context_lens[b] % block_size != 0 ||
            static_cast<uint32_t>(context_lens[b]) / block_size > max_num_blocks) {
            std::cerr << "build_paged_attention_graph: context " << context_lens[b] << " of sequence " << b
                      << " is not 1.." << max_num_blocks << " whole blocks of " << block_size << '\n';
            return -1;
        }
    }

    void *dev_query = upload(runtime, orch_args, 0);
    void *dev_key_cache = upload(runtime, orch_args, 1);
    void *dev_value_cache = upload(runtime, orch_args, 2);
    void *dev_out = scratch(runtime, orch_args.tensor(5).nbytes());
    if (!dev_query || !dev_key_cache || !dev_value_cache || !dev_out) return -1;
    record_tensor_pair(runtime, orch_args.tensor(5).data_as<void>(), dev_out, orch_args.tensor(5).nbytes());

    const size_t row_bytes = size_t{head_dim} * sizeof(uint16_t);
    int tasks = 0;
    for (uint32_t b = 0; b < batch; b++) {
        const uint32_t blocks = static_cast<uint32_t>(context_lens[b]) / block_size;
        for (uint32_t ht = 0; ht < head_tiles; ht++) {
            const uint64_t head0 = uint64_t{b} * num_heads + uint64_t{ht} * q_tile;
            const uint64_t qi = address(dev_query) + head0 * row_bytes;
            const uint64_t out = address(dev_out) + head0 * head_dim * sizeof(float);
            void *mi = scratch(runtime, q_tile * sizeof(float));
            void *li = scratch(runtime, q_tile * sizeof(float));
            void *oi = scratch(runtime, size_t{q_tile} * head_dim * sizeof(float));
            if (!mi || !li || !oi) return -1;
            int previous_update = -1;
            for (uint32_t j = 0; j < blocks; j++) {
                const uint64_t block = static_cast<uint64_t>(block_table[size_t{b} * max_num_blocks + j]);
                const uint64_t kj = address(dev_key_cache) + block * block_size * row_bytes;
                const uint64_t vj = address(dev_value_cache) + block * block_size * row_bytes;
                void *sij = scratch(runtime, size_t{q_tile} * block_size * sizeof(float));
                void *pij = scratch(runtime, size_t{q_tile} * block_size * sizeof(uint16_t));
                void *mij = scratch(runtime, q_tile * sizeof(float));
                void *lij = scratch(runtime, q_tile * sizeof(float));
                void *oi_new = scratch(runtime, size_t{q_tile} * head_dim * sizeof(float));
                if (!sij || !pij || !mij || !lij || !oi_new) return -1;

                uint64_t qk_args[6] = {qi, kj, address(sij), q_tile, head_dim, block_size};
                uint64_t sf_args[7] = {address(sij), scale_bits, address(pij), address(mij), address(lij), q_tile, block_size};
                uint64_t pv_args[6] = {address(pij), vj, address(oi_new), q_tile, block_size, head_dim};
                uint64_t up_args[11] = {address(mij), address(lij), address(oi_new), address(mi), address(li), address(oi),
                                        j == 0, j + 1 == blocks, out, q_tile, head_dim};
                int qk = add_task(runtime, qk_args, 6, 0, CoreType::AIC);
                int sf = add_task(runtime, sf_args, 7, 1, CoreType::AIV);
                int pv = add_task(runtime, pv_args, 6, 2, CoreType::AIC);
                int up = add_task(runtime, up_args, 11, 3, CoreType::AIV);
                add_successor(runtime, qk, sf);
                add_successor(runtime, sf, pv);
                add_successor(runtime, pv, up);
                if (previous_update >= 0) add_successor(runtime, previous_update, up);
                previous_update = up;
                tasks += 4;
            }
        }
    }
    std::cout << "build_paged_attention_graph: " << tasks << " tasks\n";
    print_runtime(runtime);
    return 0;
}
