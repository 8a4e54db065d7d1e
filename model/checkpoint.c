/* checkpoint.c: save and load a model with its AdamW state.
 *
 * File: "CAMODEL1", u32 format version, i32 V, max_n, D, H, L, i64 step, u64 count,
 * then params, m, v (count float32 each), then a u64 FNV-1a hash of every byte before
 * it. Native byte order (the machines that run the suite are little-endian x86-64); the
 * floats are copied bit for bit, so a round trip is exact. A save goes to a temp file
 * renamed over the destination, so an interrupted save leaves the old checkpoint. */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char magic[8] = {'C', 'A', 'M', 'O', 'D', 'E', 'L', '1'};
enum { FORMAT_VERSION = 1 };

typedef struct header {
    char magic[8];
    uint32_t version;
    int32_t cfg[5];
    int64_t step;
    uint64_t count;
} header;

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}
#define FNV_BASIS 0xcbf29ce484222325ull

static void pack_cfg(const model_config *c, int32_t out[5])
{
    out[0] = c->vocab; out[1] = c->max_n; out[2] = c->d_model; out[3] = c->heads;
    out[4] = c->layers;
}

int model_save(const char *path, const model_config *cfg, int64_t step,
               const float *params, const float *m, const float *v, const char **why)
{
    const char *bad = model_config_error(cfg);
    if (bad) { *why = bad; return -1; }
    header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, magic, sizeof magic);
    h.version = FORMAT_VERSION;
    pack_cfg(cfg, h.cfg);
    h.step = step;
    h.count = model_param_count(cfg);
    size_t tmp_len = strlen(path) + 16;
    char *tmp = malloc(tmp_len);
    if (!tmp) { *why = "out of memory"; return -1; }
    snprintf(tmp, tmp_len, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) { *why = "cannot create the file"; free(tmp); return -1; }
    uint64_t hash = fnv1a(FNV_BASIS, &h, sizeof h);
    int ok = fwrite(&h, sizeof h, 1, f) == 1;
    const float *parts[3] = {params, m, v};
    float *zeros = NULL;
    for (int p = 0; p < 3 && ok; p++) {
        const float *x = parts[p];
        if (!x) {
            if (!zeros && !(zeros = calloc(h.count, sizeof *zeros))) { ok = 0; break; }
            x = zeros;
        }
        hash = fnv1a(hash, x, h.count * sizeof *x);
        ok = fwrite(x, sizeof *x, h.count, f) == h.count;
    }
    ok = ok && fwrite(&hash, sizeof hash, 1, f) == 1;
    ok = (fclose(f) == 0) && ok;
    free(zeros);
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        free(tmp);
        *why = "write failed";
        return -1;
    }
    free(tmp);
    return 0;
}

int model_load(const char *path, model_checkpoint *ck, const char **why)
{
    FILE *f = fopen(path, "rb");
    if (!f) { *why = "cannot open the file"; return -1; }
    header h;
    float *x[3] = {NULL, NULL, NULL};
    int rc = -1;
    model_config cfg;
    if (fread(&h, sizeof h, 1, f) != 1) { *why = "truncated header"; goto out; }
    if (memcmp(h.magic, magic, sizeof magic) != 0) { *why = "not a model checkpoint"; goto out; }
    if (h.version != FORMAT_VERSION) { *why = "unknown checkpoint version"; goto out; }
    cfg = (model_config){h.cfg[0], h.cfg[1], h.cfg[2], h.cfg[3], h.cfg[4]};
    if (model_config_error(&cfg)) { *why = "corrupt configuration"; goto out; }
    if (h.count != model_param_count(&cfg)) { *why = "parameter count does not match the configuration"; goto out; }
    uint64_t hash = fnv1a(FNV_BASIS, &h, sizeof h);
    for (int p = 0; p < 3; p++) {
        if (!(x[p] = malloc(h.count * sizeof *x[p]))) { *why = "out of memory"; goto out; }
        if (fread(x[p], sizeof *x[p], h.count, f) != h.count) { *why = "truncated data"; goto out; }
        hash = fnv1a(hash, x[p], h.count * sizeof *x[p]);
    }
    uint64_t stored;
    if (fread(&stored, sizeof stored, 1, f) != 1) { *why = "truncated checksum"; goto out; }
    if (stored != hash) { *why = "checksum mismatch (corrupt file)"; goto out; }
    if (fgetc(f) != EOF) { *why = "trailing bytes after the checksum"; goto out; }
    ck->cfg = cfg;
    ck->step = h.step;
    ck->params = x[0]; ck->m = x[1]; ck->v = x[2];
    x[0] = x[1] = x[2] = NULL;
    rc = 0;
out:
    fclose(f);
    for (int p = 0; p < 3; p++) free(x[p]);
    return rc;
}
