/* An orchestration plugin written against orchestration_api.h (built as C
 * and as C++ by tests/plugin.rs, loaded with libloading and driven through a
 * recording runtime written in Rust). */
#include "orchestration_api.h"

#ifdef __cplusplus
extern "C" {
#endif

int entry(OrchestrationRuntime *rt, const OrchArgs *args);
int entry_self_edge(OrchestrationRuntime *rt, const OrchArgs *args);

#ifdef __cplusplus
}
#endif

/* tensors[0]: input, tensors[1]: output, scalars[0]: first function id.
 * Uploads the input, registers the output for copy-back, adds a vector task
 * and a cube task that waits for it. */
int entry(OrchestrationRuntime *rt, const OrchArgs *args) {
  const OrchTensor *in;
  const OrchTensor *out;
  void *dev_in;
  void *dev_out;
  void *scratch;
  uint64_t words[3];
  int32_t first;
  int32_t second;
  int32_t rc;

  if (args == NULL || args->num_tensors < 2 || args->num_scalars < 1) return ORCH_ERR_NULL_ARGUMENT;
  in = &args->tensors[0];
  out = &args->tensors[1];

  dev_in = device_malloc(rt, in->nbytes);
  if (dev_in == NULL) return ORCH_ERR_OUT_OF_MEMORY;
  rc = copy_to_device(rt, dev_in, (const void *)(uintptr_t)in->addr, in->nbytes);
  if (rc != ORCH_OK) return rc;
  dev_out = device_malloc(rt, out->nbytes);
  if (dev_out == NULL) return ORCH_ERR_OUT_OF_MEMORY;
  rc = record_tensor_pair(rt, (void *)(uintptr_t)out->addr, dev_out, out->nbytes);
  if (rc != ORCH_OK) return rc;

  words[0] = (uint64_t)(uintptr_t)dev_in;
  words[1] = (uint64_t)(uintptr_t)dev_out;
  words[2] = in->shape[0];
  first = add_task(rt, words, 3, (int32_t)args->scalars[0], CORE_TYPE_AIV);
  if (first < 0) return first;
  second = add_task(rt, words + 1, 1, (int32_t)args->scalars[0] + 1, CORE_TYPE_AIC);
  if (second < 0) return second;
  rc = add_successor(rt, first, second);
  if (rc != ORCH_OK) return rc;
  if (get_task_count(rt) != 2) return -100;

  scratch = device_malloc(rt, 16);
  if (scratch == NULL) return ORCH_ERR_OUT_OF_MEMORY;
  rc = device_free(rt, scratch);
  if (rc != ORCH_OK) return rc;
  print_runtime(rt);
  return 0;
}

/* Adds one task and an edge from it to itself; returns the runtime's status. */
int entry_self_edge(OrchestrationRuntime *rt, const OrchArgs *args) {
  int32_t task;
  (void)args;
  task = add_task(rt, NULL, 0, 0, CORE_TYPE_AIC);
  if (task < 0) return task;
  return add_successor(rt, task, task);
}
