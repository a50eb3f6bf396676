/* Full-resolution part of the collaborative bilateral network (uhd_bilateral), fused, float32, CPU.
 *
 * Per pixel: pointwise guide networks -> trilinear slicing of G bilateral grids at (row, column, guide)
 * and their affine colour maps -> 1x1 fusion -> NB inverted-residual blocks (1x1 expand + ReLU6,
 * depthwise 3x3 + ReLU6, 1x1 project, skip) -> 1x1 + sigmoid (-> linear HDR). Same arithmetic as the
 * torch tile kernel of hdrlift.kernels.uhd_bilateral (UHDTiles), up to float rounding (~1e-6 relative).
 *
 * The region x (3, h, w; strides xs_c, xs_r, xs_x in floats, so planar or pixel-interleaved) lies at
 * (row_off, col_off) of an image of size (full_h, full_w) (grid coordinates); the result goes to out
 * (3, h, w; strides os_c, os_r, os_x). The depthwise convolutions zero-pad at the region's border. The region is cut into
 * tiles of `band` rows x `cols` columns plus a halo of NB pixels on each side (a wrong value at a
 * tile's edge moves one pixel inwards per block, so the core is exact); OpenMP threads take bands.
 * Inside a tile every intermediate is channel-planar and small enough for the L2 cache, the inner loops
 * run over 16 pixels at a time, and the 1x1 convolutions keep 16 output channels in registers
 * (independent FMA chains). exp/tanh/expm1 are vectorisable polynomial versions (no libm calls).
 *
 * Parameters (float32, row-major, natural PyTorch layouts):
 *   gw1 (GHID, 3), gb1 (GHID), gw2 (NG, GHID) [block-diagonal per guide], gb2 (NG)
 *   grids (G, 12, D, GH, GW): 3 outputs x (3 inputs + 1) affine coefficients
 *   wi (F, 3G), bi (F)
 *   per block k: we (E, F), be (E), wd (E, 9), bd (E), wp (F, E), bp (F), skip[k]
 *   wo (3, F), bo (3)
 *
 * Built on first use by hdrlift.nn.native (cc -O3 -march=native -fopenmp) and called through the declared
 * ctypes signature there (one uhd_args struct); the kernel object is hdrlift.kernels.uhd_bilateral.UHDNative.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NC 12
#define VL 16

typedef float vf __attribute__((vector_size(64)));
typedef int vi __attribute__((vector_size(64)));
static inline vf ldv(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void stv(float *p, vf v) { memcpy(p, &v, sizeof v); }

static inline float clamp6(float v) { return v < 0.f ? 0.f : (v > 6.f ? 6.f : v); }

/* exp(x), |relative error| < 3e-7 for x in [-87, 88] (Cody-Waite reduction, degree-6 polynomial). */
static inline float exp_v(float x)
{
    x = x < -87.f ? -87.f : (x > 88.f ? 88.f : x);
    float k = rintf(x * 1.44269504f);
    float r = x - k * 0.693145752f - k * 1.42860677e-6f;
    float p = 1.f + r * (1.f + r * (0.5f + r * (1.6666667e-1f + r * (4.1666668e-2f
              + r * (8.3333338e-3f + r * 1.3888889e-3f)))));
    union { int32_t i; float f; } u;
    u.i = ((int32_t)k + 127) << 23;
    return p * u.f;
}

/* expm1(x) without cancellation near 0: Taylor series for |x| < 0.25, exp(x) - 1 elsewhere. */
static inline float expm1_v(float x)
{
    float t = x * (1.f + x * (0.5f + x * (1.6666667e-1f + x * (4.1666668e-2f + x * (8.3333338e-3f
              + x * (1.3888889e-3f + x * 1.9841270e-4f))))));
    float e = exp_v(x) - 1.f;
    return fabsf(x) < 0.25f ? t : e;
}

static inline float tanh_v(float x)
{
    x = x < -9.f ? -9.f : (x > 9.f ? 9.f : x);
    float m = expm1_v(2.f * x);
    return m / (m + 2.f);
}

/* dst[o][c] = act(bias[o] + (acc ? dst[o][c] : 0) + sum_j W[o * nsrc + j] * src[j][c]) for NO outputs,
 * act = clamp to [0, 6] (relu6 != 0) or identity; 16 pixels x NO outputs stay in registers. */
#define PW_KERNEL(NO)                                                                                   \
    static void pw##NO(float *const *dst, const float *const *src, int nsrc, const float *W,          \
                       const float *bias, int n, int acc, int relu6)                                  \
    {                                                                                                 \
        int c = 0;                                                                                    \
        for (; c + VL <= n; c += VL) {                                                                \
            vf a[NO];                                                                                 \
            for (int o = 0; o < NO; ++o) a[o] = (acc ? ldv(dst[o] + c) : (vf){0}) + bias[o];          \
            for (int j = 0; j < nsrc; ++j) {                                                          \
                vf v = ldv(src[j] + c);                                                               \
                for (int o = 0; o < NO; ++o) a[o] += W[o * nsrc + j] * v;                             \
            }                                                                                         \
            for (int o = 0; o < NO; ++o) stv(dst[o] + c, a[o]);                                       \
            if (relu6)                                                                                \
                for (int o = 0; o < NO; ++o) {                                                        \
                    float *q = dst[o] + c;                                                            \
                    _Pragma("omp simd") for (int i = 0; i < VL; ++i) q[i] = clamp6(q[i]);             \
                }                                                                                     \
        }                                                                                             \
        for (; c < n; ++c)                                                                            \
            for (int o = 0; o < NO; ++o) {                                                            \
                float s = (acc ? dst[o][c] : 0.f) + bias[o];                                          \
                for (int j = 0; j < nsrc; ++j) s += W[o * nsrc + j] * src[j][c];                      \
                dst[o][c] = relu6 ? clamp6(s) : s;                                                    \
            }                                                                                         \
    }
PW_KERNEL(16)
PW_KERNEL(8)
PW_KERNEL(4)
PW_KERNEL(1)

static void pw(float *const *dst, int nout, const float *const *src, int nsrc, const float *W,
               const float *bias, int n, int acc, int relu6)
{
    int o = 0;
    for (; o + 16 <= nout; o += 16) pw16(dst + o, src, nsrc, W + (long)o * nsrc, bias + o, n, acc, relu6);
    for (; o + 8 <= nout; o += 8) pw8(dst + o, src, nsrc, W + (long)o * nsrc, bias + o, n, acc, relu6);
    for (; o + 4 <= nout; o += 4) pw4(dst + o, src, nsrc, W + (long)o * nsrc, bias + o, n, acc, relu6);
    for (; o < nout; ++o) pw1(dst + o, src, nsrc, W + (long)o * nsrc, bias + o, n, acc, relu6);
}

/* Every argument of uhd_fullres, in one struct (mirrored field by field by the ctypes.Structure
 * hdrlift.nn.native.UhdArgs). `size` must be sizeof(uhd_args) and uhd_abi() must return the ABI
 * version the caller was written for: both are checked, so a layout mismatch is an error code, never a
 * misread argument. */
#define UHD_ABI 2
typedef struct {
    long size;                                   /* sizeof(uhd_args) */
    const float *x; int h, w; long xs_c, xs_r, xs_x; int row_off, col_off, full_h, full_w;
    const float *gw1, *gb1; int ghid; const float *gw2, *gb2; int ng;
    const float *grids; int G, D, GH, GW;
    const float *wi, *bi; int F;
    int nb, E; const float *we, *be, *wd, *bd, *wp, *bp; const int *skip;
    const float *wo, *bo;
    int to_hdr; float hdr_scale, hdr_mu;
    float *out; long os_c, os_r, os_x;
    int band, cols, nthreads;
} uhd_args;
typedef uhd_args Args;

int uhd_abi(void) { return UHD_ABI; }
long uhd_args_size(void) { return (long)sizeof(uhd_args); }

typedef struct {  /* per-thread scratch */
    float *tab, *t, *e, *d, *hid, *guide, *feat, *wts, *xrow;
    int *idx, *col0, *col1;
    float *colf;
} Scratch;

/* Row table of image row r: every grid linearly interpolated to the row (clamped, cell-centred), laid
 * out (G, D, GW, 16): the 12 coefficients of a cell are contiguous (padded to 16 with zeros), so slicing
 * reads each of a pixel's 4 (depth, column) neighbours as one 16-float vector. */
static void row_table(const Args *a, int r, float *tab)
{
    const int GH = a->GH, GW = a->GW, D = a->D;
    float p = ((float)(a->row_off + r) + 0.5f) * ((float)GH / (float)a->full_h) - 0.5f;
    if (p < 0.f) p = 0.f;
    if (p > (float)(GH - 1)) p = (float)(GH - 1);
    int i0 = (int)floorf(p);
    if (i0 > GH - 2) i0 = GH - 2 > 0 ? GH - 2 : 0;
    int i1 = i0 + 1 < GH ? i0 + 1 : GH - 1;
    float fr = p - (float)i0;
    memset(tab, 0, sizeof(float) * (size_t)a->G * D * GW * VL);
    for (int g = 0; g < a->G; ++g)
        for (int k = 0; k < NC; ++k)
            for (int z = 0; z < D; ++z) {
                const float *src = a->grids + (((long)g * NC + k) * D + z) * GH * GW;
                float *dst = tab + (((long)g * D + z) * GW) * VL + k;
                for (int q = 0; q < GW; ++q)
                    dst[(long)q * VL] = src[i0 * GW + q] + fr * (src[i1 * GW + q] - src[i0 * GW + q]);
            }
}

/* Guide, slicing and 1x1 fusion of row r, columns [e0, e0 + n), into t (F planes, row tr, stride ts). */
static void front_row(const Args *a, const Scratch *s, const float *tab, int r, int e0, int n, float *t,
                      long ts, int tr, int tw)
{
    const int G = a->G, D = a->D, GW = a->GW;
    const float *p0, *p1, *p2;
    const float *xr = a->x + (long)r * a->xs_r + (long)e0 * a->xs_x;
    if (a->xs_x == 1) {
        p0 = xr; p1 = xr + a->xs_c; p2 = xr + 2 * a->xs_c;
    } else { /* pixel-interleaved input (e.g. an HWC array): de-interleave the row segment */
        float *q0 = s->xrow, *q1 = q0 + tw, *q2 = q1 + tw;
        const long sx = a->xs_x, sc = a->xs_c;
        for (int i = 0; i < n; ++i) {
            q0[i] = xr[i * sx]; q1[i] = xr[i * sx + sc]; q2[i] = xr[i * sx + 2 * sc];
        }
        p0 = q0; p1 = q1; p2 = q2;
    }
    for (int j = 0; j < a->ghid; ++j) {
        float wa = a->gw1[j * 3], wb = a->gw1[j * 3 + 1], wc = a->gw1[j * 3 + 2], b = a->gb1[j];
        float *hj = s->hid + (long)j * tw;
#pragma omp simd
        for (int i = 0; i < n; ++i) {
            float v = b + wa * p0[i] + wb * p1[i] + wc * p2[i];
            hj[i] = v > 0.f ? v : 0.f;
        }
    }
    for (int q = 0; q < a->ng; ++q) {
        float *gq = s->guide + (long)q * tw;
        float b = a->gb2[q];
#pragma omp simd
        for (int i = 0; i < n; ++i) gq[i] = b;
        for (int j = 0; j < a->ghid; ++j) {
            float wj = a->gw2[q * a->ghid + j];
            if (wj == 0.f) continue; /* block-diagonal: the other guide's hidden units */
            const float *hj = s->hid + (long)j * tw;
#pragma omp simd
            for (int i = 0; i < n; ++i) gq[i] += wj * hj[i];
        }
#pragma omp simd
        for (int i = 0; i < n; ++i) gq[i] = tanh_v(gq[i]);
    }
    int *i00 = s->idx, *i01 = i00 + tw, *i10 = i01 + tw, *i11 = i10 + tw;
    float *w00 = s->wts, *w01 = w00 + tw, *w10 = w01 + tw, *w11 = w10 + tw;
    const int *col0 = s->col0 + e0, *col1 = s->col1 + e0;
    const float *colf = s->colf + e0;
    for (int g = 0; g < G; ++g) {
        const float *gq = s->guide + (long)(a->ng == 1 ? 0 : g) * tw;
        const float *base = tab + (long)g * D * GW * VL;
        for (int i = 0; i < n; ++i) {
            float z = ((gq[i] + 1.f) * (float)D - 1.f) * 0.5f;
            z = z < 0.f ? 0.f : (z > (float)(D - 1) ? (float)(D - 1) : z);
            int z0 = (int)z; /* z >= 0: truncation = floor */
            z0 = z0 > D - 2 ? (D - 2 > 0 ? D - 2 : 0) : z0;
            int z1 = z0 + 1 < D ? z0 + 1 : D - 1;
            float fz = z - (float)z0, fc = colf[i];
            w00[i] = (1.f - fz) * (1.f - fc); w01[i] = (1.f - fz) * fc;
            w10[i] = fz * (1.f - fc); w11[i] = fz * fc;
            i00[i] = z0 * GW + col0[i]; i01[i] = z0 * GW + col1[i];
            i10[i] = z1 * GW + col0[i]; i11[i] = z1 * GW + col1[i];
        }
        const vf m0 = {1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
        const vf m1 = {0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
        const vf m2 = {0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0};
        const vf m3 = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0};
        const vi sw1 = {1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14};
        const vi sw2 = {2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13};
        float *f0 = s->feat + (long)(g * 3) * tw, *f1 = f0 + tw, *f2 = f1 + tw;
        for (int i = 0; i < n; ++i) {
            /* the 12 affine coefficients of the pixel (bilinear over depth and column), then
             * coef . (v0, v1, v2, 1) per output channel: lane products summed in groups of 4 */
            vf c = w00[i] * ldv(base + (long)i00[i] * VL) + w01[i] * ldv(base + (long)i01[i] * VL)
                 + w10[i] * ldv(base + (long)i10[i] * VL) + w11[i] * ldv(base + (long)i11[i] * VL);
            vf pr = c * (p0[i] * m0 + p1[i] * m1 + p2[i] * m2 + m3);
            pr += __builtin_shuffle(pr, sw1);
            pr += __builtin_shuffle(pr, sw2);
            f0[i] = pr[0];
            f1[i] = pr[4];
            f2[i] = pr[8];
        }
    }
    const float *fsrc[3 * 4];
    for (int k = 0; k < 3 * G; ++k) fsrc[k] = s->feat + (long)k * tw;
    float *tdst[64];
    for (int f = 0; f < a->F; ++f) tdst[f] = t + f * ts + (long)tr * n;
    pw(tdst, a->F, fsrc, 3 * G, a->wi, a->bi, n, 0, 0);
}

/* One tile: core rows [r0, r1) x columns [c0, c1) of the region; tab holds the row tables of rows b0.. */
static void do_tile(const Args *a, const Scratch *s, const float *tabs, int b0, int r0, int r1, int c0, int c1)
{
    const int h = a->h, w = a->w, F = a->F, E = a->E, nb = a->nb;
    const long tabn = (long)a->G * a->D * a->GW * VL;
    int rb0 = r0 - nb > 0 ? r0 - nb : 0, rb1 = r1 + nb < h ? r1 + nb : h;
    int e0 = c0 - nb > 0 ? c0 - nb : 0, e1 = c1 + nb < w ? c1 + nb : w;
    int rows = rb1 - rb0, n = e1 - e0, np2 = n + 2; /* e rows carry one zero column on each side */
    long ts = (long)rows * n, es = (long)rows * np2;
    float *t = s->t, *e = s->e, *d = s->d;
    for (int r = rb0; r < rb1; ++r) front_row(a, s, tabs + (long)(r - b0) * tabn, r, e0, n, t, ts, r - rb0, n);
    for (int k = 0; k < nb; ++k) {
        const float *We = a->we + (long)k * E * F, *Be = a->be + (long)k * E;
        const float *Wd = a->wd + (long)k * E * 9, *Bd = a->bd + (long)k * E;
        const float *Wp = a->wp + (long)k * F * E, *Bp = a->bp + (long)k * F;
        for (int rr = 0; rr < rows; ++rr) {  /* expand + ReLU6 into e */
            const float *tsrc[64];
            float *edst[256];
            for (int j = 0; j < F; ++j) tsrc[j] = t + j * ts + (long)rr * n;
            for (int o = 0; o < E; ++o) {
                edst[o] = e + o * es + (long)rr * np2 + 1;
                edst[o][-1] = 0.f;
                edst[o][n] = 0.f;
            }
            pw(edst, E, tsrc, F, We, Be, n, 0, 1);
        }
        for (int rr = 0; rr < rows; ++rr) {  /* depthwise 3x3 + ReLU6 into d, project + skip into t */
            for (int o = 0; o < E; ++o) {
                float *dout = d + (long)o * n;
                float kk[9];
                for (int q = 0; q < 9; ++q) kk[q] = Wd[o * 9 + q];
                const float *rowp[3];
                for (int dy = -1; dy <= 1; ++dy) {
                    int ry = rr + dy;
                    if (ry >= 0 && ry < rows) rowp[dy + 1] = e + o * es + (long)ry * np2;
                    else {
                        rowp[dy + 1] = e + o * es + (long)rr * np2; /* any row: its taps are zeroed */
                        for (int q = 0; q < 3; ++q) kk[(dy + 1) * 3 + q] = 0.f;
                    }
                }
                const float *q0 = rowp[0], *q1 = rowp[1], *q2 = rowp[2];
                float b = Bd[o];
#pragma omp simd
                for (int c = 0; c < n; ++c) {
                    float v = b + kk[0] * q0[c] + kk[1] * q0[c + 1] + kk[2] * q0[c + 2]
                                + kk[3] * q1[c] + kk[4] * q1[c + 1] + kk[5] * q1[c + 2]
                                + kk[6] * q2[c] + kk[7] * q2[c + 1] + kk[8] * q2[c + 2];
                    dout[c] = clamp6(v);
                }
            }
            const float *dsrc[256];
            float *pdst[64];
            for (int j = 0; j < E; ++j) dsrc[j] = d + (long)j * n;
            for (int f = 0; f < F; ++f) pdst[f] = t + f * ts + (long)rr * n;
            pw(pdst, F, dsrc, E, Wp, Bp, n, a->skip[k], 0);
        }
    }
    /* output 1x1 + sigmoid (+ HDR decoding) for the core pixels */
    for (int r = r0; r < r1; ++r) {
        const float *osrc[64];
        float *odst[3];
        float y[3][1024];
        int m = c1 - c0;
        for (int f = 0; f < F; ++f) osrc[f] = t + f * ts + (long)(r - rb0) * n + (c0 - e0);
        for (int o = 0; o < 3; ++o) odst[o] = y[o];
        pw(odst, 3, osrc, F, a->wo, a->bo, m, 0, 0);
        for (int o = 0; o < 3; ++o) {
            float *src = y[o];
            if (a->to_hdr) {
                float sc = a->hdr_scale, inv = 1.f / a->hdr_mu;
#pragma omp simd
                for (int c = 0; c < m; ++c) {
                    float v = 1.f / (1.f + exp_v(-src[c]));
                    src[c] = expm1_v((v > 1.f ? 1.f : v) * sc) * inv;
                }
            } else {
#pragma omp simd
                for (int c = 0; c < m; ++c) src[c] = 1.f / (1.f + exp_v(-src[c]));
            }
            float *dst = a->out + o * a->os_c + (long)r * a->os_r + (long)c0 * a->os_x;
            if (a->os_x == 1) memcpy(dst, src, sizeof(float) * (size_t)m);
            else for (int c = 0; c < m; ++c) dst[(long)c * a->os_x] = src[c];
        }
    }
}

/* Returns 0, -1 (invalid arguments), -2 (out of memory) or -3 (struct size mismatch). */
int uhd_fullres(const uhd_args *args)
{
    if (args == NULL || args->size != (long)sizeof(uhd_args))
        return -3;
    const uhd_args a = *args;
    const int h = a.h, w = a.w, G = a.G, D = a.D, GW = a.GW, nb = a.nb, E = a.E, F = a.F, ghid = a.ghid,
              ng = a.ng, band = a.band, cols = a.cols, col_off = a.col_off, full_w = a.full_w;
    const int nthreads = a.nthreads > 0 ? a.nthreads : 1;
    if (G < 1 || G > 4 || ng < 1 || ng > G || ng > 4 || band < 1 || cols < 1 || cols > 1024 || F > 64 || E > 256
        || ghid < 1 || nb < 0 || D < 1 || GW < 1 || a.GH < 1)
        return -1;
    const long tabn = (long)G * D * GW * VL;
    int nbands = (h + band - 1) / band;
    int failed = 0;
#pragma omp parallel num_threads(nthreads)
    {
        int rows_max = band + 2 * nb, tw = cols + 2 * nb;
        Scratch s;
        s.tab = malloc(sizeof(float) * (size_t)rows_max * tabn);
        s.t = malloc(sizeof(float) * (size_t)rows_max * tw * F);
        s.e = malloc(sizeof(float) * (size_t)rows_max * (tw + 2) * E);
        s.d = malloc(sizeof(float) * (size_t)tw * E);
        s.hid = malloc(sizeof(float) * (size_t)ghid * tw);
        s.guide = malloc(sizeof(float) * (size_t)ng * tw);
        s.feat = malloc(sizeof(float) * (size_t)3 * G * tw);
        s.wts = malloc(sizeof(float) * (size_t)4 * tw);
        s.xrow = malloc(sizeof(float) * (size_t)3 * tw);
        s.idx = malloc(sizeof(int) * (size_t)4 * tw);
        s.colf = malloc(sizeof(float) * (size_t)w);
        s.col0 = malloc(sizeof(int) * (size_t)w);
        s.col1 = malloc(sizeof(int) * (size_t)w);
        int ok = s.tab && s.t && s.e && s.d && s.hid && s.guide && s.feat && s.wts && s.xrow && s.idx && s.colf
                 && s.col0 && s.col1;
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        } else {
            /* column coordinates of the grids (cell-centred, clamped like grid_sample's border mode) */
            for (int c = 0; c < w; ++c) {
                float p = ((float)(col_off + c) + 0.5f) * ((float)GW / (float)full_w) - 0.5f;
                if (p < 0.f) p = 0.f;
                if (p > (float)(GW - 1)) p = (float)(GW - 1);
                int i0 = (int)floorf(p);
                if (i0 > GW - 2) i0 = GW - 2 > 0 ? GW - 2 : 0;
                s.col0[c] = i0;
                s.col1[c] = i0 + 1 < GW ? i0 + 1 : GW - 1;
                s.colf[c] = GW > 1 ? p - (float)i0 : 0.f;
            }
        }
#pragma omp barrier
#pragma omp for schedule(dynamic, 1)
        for (int bi_ = 0; bi_ < nbands; ++bi_) {
            if (failed) continue;
            int r0 = bi_ * band, r1 = r0 + band < h ? r0 + band : h;
            int b0 = r0 - nb > 0 ? r0 - nb : 0, b1 = r1 + nb < h ? r1 + nb : h;
            for (int r = b0; r < b1; ++r) row_table(&a, r, s.tab + (long)(r - b0) * tabn);
            for (int c0 = 0; c0 < w; c0 += cols) {
                int c1 = c0 + cols < w ? c0 + cols : w;
                do_tile(&a, &s, s.tab, b0, r0, r1, c0, c1);
            }
        }
        free(s.tab); free(s.t); free(s.e); free(s.d); free(s.hid); free(s.guide); free(s.feat);
        free(s.wts); free(s.xrow); free(s.idx); free(s.colf); free(s.col0); free(s.col1);
    }
    return failed ? -2 : 0;
}
