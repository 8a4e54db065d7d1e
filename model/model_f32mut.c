/* model_f32mut.c: the float32 model with the bugs of mutant.h planted where the bodies
 * test MODEL_MUTANT, for the tests alone (tests/test_model_mutants.c): a precision
 * built as real.h describes, linked beside the model, its entry points the table
 * model_f32mut. verify and the library never link it. */
#define MODEL_MUTANT
#include "mutant.h"

#include "float32.c"

#include "layers.c"
#include "block.c"
#include "model.c"
#include "infer.c"

model_mutant model_mutant_planted = MUT_NONE;

const model_fns model_f32mut = {model_forward_backward, model_infer, model_generate,
                                 model_forward_backward_parts};
