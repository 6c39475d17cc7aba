/* One SIMD level of multiarch.h: includes the family file for float, then double. */
#define real float
#define LOSSK_F64 0
#define LOSSK_SFX f32
#define LOSSK_LANES LOSSK_LANES_F32
#include LOSSK_TEMPLATE_FILE
#undef real
#undef LOSSK_F64
#undef LOSSK_SFX
#undef LOSSK_LANES

#define real double
#define LOSSK_F64 1
#define LOSSK_SFX f64
#define LOSSK_LANES LOSSK_LANES_F64
#include LOSSK_TEMPLATE_FILE
#undef real
#undef LOSSK_F64
#undef LOSSK_SFX
#undef LOSSK_LANES
