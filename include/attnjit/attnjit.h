/* attnjit's C ABI: a thin layer over the C++ API (attnjit.hpp) for other languages (the Python front end
 * loads it with ctypes). Every call returns an attnjit_status; on failure attnjit_last_error() gives the
 * message (the same text as the C++ Error: what failed, with the values, and what to do), per thread.
 * Pointers are CUDA device pointers; a stream is a CUstream / cudaStream_t of the context current on the
 * calling thread (NULL: the legacy default stream). */
#ifndef ATTNJIT_ATTNJIT_H_
#define ATTNJIT_ATTNJIT_H_

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum attnjit_status {
  ATTNJIT_OK = 0,
  ATTNJIT_INVALID_ARGUMENT = 1, /* the problem or a pointer is wrong */
  ATTNJIT_NO_DRIVER = 2,        /* no CUDA driver or no GPU */
  ATTNJIT_DRIVER = 3,           /* a CUDA driver call failed */
  ATTNJIT_NO_COMPILER = 4,      /* NVRTC missing and the kernel not in the store */
  ATTNJIT_COMPILE = 5,          /* NVRTC rejected a generated kernel */
  ATTNJIT_STORE = 6,            /* the SQLite store failed */
  ATTNJIT_INTERNAL = 7
} attnjit_status;

typedef enum attnjit_dtype { ATTNJIT_F32 = 0, ATTNJIT_F16 = 1, ATTNJIT_BF16 = 2 } attnjit_dtype;
typedef enum attnjit_norm { ATTNJIT_SOFTMAX = 0, ATTNJIT_SPARSEMAX = 1 } attnjit_norm;
typedef enum attnjit_cache_mode {
  ATTNJIT_CACHE_READ_WRITE = 0,
  ATTNJIT_CACHE_READ_ONLY = 1,
  ATTNJIT_CACHE_OFF = 2
} attnjit_cache_mode;

/* Multi-Token Attention (SPEC.md section 1); the fields of attnjit::MtaProblem. */
typedef struct attnjit_mta_problem {
  int batch, in_channels, out_channels, length;
  int kernel_h, kernel_w;
  int stride_h, stride_w;
  int pad_top, pad_bottom, pad_left, pad_right;
  int dilation_h, dilation_w;
  int groups;
  int has_bias; /* 0 or 1 */
  attnjit_norm norm;
  attnjit_dtype dtype;
} attnjit_mta_problem;

typedef struct attnjit_runtime attnjit_runtime; /* opaque: an attnjit::Runtime */

/* The message of this thread's last failed call ("" if none). Valid until the thread's next attnjit call. */
const char* attnjit_last_error(void);
const char* attnjit_version(void);

/* cache_path NULL or "": $ATTNJIT_CACHE, else $XDG_CACHE_HOME/attnjit/attnjit.db. */
attnjit_status attnjit_runtime_create(const char* cache_path, attnjit_cache_mode mode, attnjit_runtime** runtime);
void attnjit_runtime_destroy(attnjit_runtime* runtime); /* NULL is allowed */

/* Checks the problem (ATTNJIT_INVALID_ARGUMENT with the reason); needs no GPU. */
attnjit_status attnjit_mta_validate(const attnjit_mta_problem* problem);
/* Floats of the row statistics forward writes and backward reads. */
attnjit_status attnjit_mta_row_stats_elements(const attnjit_mta_problem* problem, size_t* elements);
/* Compiles or loads the problem's kernels in the current context (what the first launch would do). */
attnjit_status attnjit_mta_prepare(attnjit_runtime* runtime, const attnjit_mta_problem* problem);
attnjit_status attnjit_mta_workspace_bytes(attnjit_runtime* runtime, const attnjit_mta_problem* problem, size_t* bytes);

attnjit_status attnjit_mta_forward(attnjit_runtime* runtime, const attnjit_mta_problem* problem, const void* scores,
                                   const void* weight, const void* bias, void* out, float* row_stats, void* stream);
attnjit_status attnjit_mta_backward(attnjit_runtime* runtime, const attnjit_mta_problem* problem, const void* scores,
                                    const void* weight, const float* row_stats, const void* grad_out,
                                    void* grad_scores, void* grad_weight, void* grad_bias, void* workspace,
                                    void* stream);

/* 1-D neighborhood attention (SPEC.md section 3); the fields of attnjit::NaProblem. query, key, value, out
 * and the gradients are (batch, heads, length, head_dim), contiguous; logsumexp is batch*heads*length floats. */
typedef enum attnjit_na_window {
  ATTNJIT_NA_CLIPPED = 0, /* the spec's (Liger-Kernel's): the window cut at the sequence's ends */
  ATTNJIT_NA_SHIFTED = 1, /* NATTEN's: moved inward so every query sees kernel_size keys */
  ATTNJIT_NA_CAUSAL = 2   /* keys i, i - dilation, ..., kernel_size of them, none before 0 */
} attnjit_na_window;

typedef struct attnjit_na_problem {
  int batch, heads, length, head_dim;
  int kernel_size, dilation;
  attnjit_na_window window;
  double scale; /* 0: 1/sqrt(head_dim) */
  attnjit_dtype dtype;
} attnjit_na_problem;

attnjit_status attnjit_na_validate(const attnjit_na_problem* problem);
attnjit_status attnjit_na_logsumexp_elements(const attnjit_na_problem* problem, size_t* elements);
attnjit_status attnjit_na_prepare(attnjit_runtime* runtime, const attnjit_na_problem* problem);
attnjit_status attnjit_na_workspace_bytes(attnjit_runtime* runtime, const attnjit_na_problem* problem, size_t* bytes);

attnjit_status attnjit_na_forward(attnjit_runtime* runtime, const attnjit_na_problem* problem, const void* query,
                                  const void* key, const void* value, void* out, float* logsumexp, void* stream);
attnjit_status attnjit_na_backward(attnjit_runtime* runtime, const attnjit_na_problem* problem, const void* query,
                                   const void* key, const void* value, const void* out, const float* logsumexp,
                                   const void* grad_out, void* grad_query, void* grad_key, void* grad_value,
                                   void* workspace, void* stream);

#ifdef __cplusplus
}
#endif

#endif /* ATTNJIT_ATTNJIT_H_ */
