/* test_model_checkpoint.c: model_save / model_load (model.h) and model_config_error.
 * A round trip is bit-identical; every kind of damaged file is refused with a reason,
 * and a refused load leaves the caller's model_checkpoint exactly as it was. */
#include "model.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const model_config small = {.vocab = 11, .max_n = 7, .d_model = 8, .heads = 2, .layers = 2};

static char dir[64];

static void make_dir(void)
{
    strcpy(dir, "/tmp/model_ckpt_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

/* Removes every file in dir (a failed save must not leave its temp file: none expected
 * beyond those the test wrote, counted by the caller), then dir itself. */
static int remove_dir(void)
{
    DIR *d = opendir(dir);
    int files = 0;
    if (!d) return -1;
    struct dirent *e;
    char path[sizeof dir + 256 + 2];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
        files++;
    }
    closedir(d);
    rmdir(dir);
    return files;
}

static void path_in(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    unsigned char *b = malloc(*len + 16);
    cr_assert_not_null(b);
    cr_assert_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void write_all(const char *path, const unsigned char *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(b, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

/* A saved checkpoint of `small`: params from MODEL_INIT_TRAIN, m and v nonzero. */
static size_t count;
static float *params, *m, *v;

static void fixture(void)
{
    make_dir();
    count = model_param_count(&small);
    cr_assert_gt(count, 0);
    params = malloc(count * sizeof *params);
    m = malloc(count * sizeof *m);
    v = malloc(count * sizeof *v);
    cr_assert(params && m && v);
    model_init_params(&small, MODEL_INIT_TRAIN, 7, params);
    for (size_t i = 0; i < count; i++) {
        m[i] = (float)i * 1e-3f - 0.5f;
        v[i] = 1.0f / (float)(i + 1);
    }
    /* special values survive too: bits, not values, are compared */
    m[0] = -0.0f;
    v[1] = 1e-40f; /* subnormal */
}

static void teardown(void)
{
    free(params); free(m); free(v);
    remove_dir();
}

static void free_ck(model_checkpoint *ck)
{
    free(ck->params); free(ck->m); free(ck->v);
}

TestSuite(model_checkpoint, .init = fixture, .fini = teardown);

Test(model_checkpoint, round_trip_is_bit_identical)
{
    char path[128];
    path_in(path, sizeof path, "a.ckpt");
    const char *why = NULL;
    cr_assert_eq(model_save(path, &small, 12345678901LL, params, m, v, &why), 0, "%s", why);
    model_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    cr_assert_eq(model_load(path, &ck, &why), 0, "%s", why);
    cr_expect_eq(memcmp(&ck.cfg, &small, sizeof small), 0, "config differs");
    cr_expect_eq(ck.step, 12345678901LL);
    cr_expect_eq(memcmp(ck.params, params, count * sizeof *params), 0, "params differ");
    cr_expect_eq(memcmp(ck.m, m, count * sizeof *m), 0, "m differs");
    cr_expect_eq(memcmp(ck.v, v, count * sizeof *v), 0, "v differs");
    free_ck(&ck);

    /* saving over it replaces it atomically and leaves no temp file behind */
    cr_assert_eq(model_save(path, &small, 2, params, NULL, NULL, &why), 0, "%s", why);
    cr_assert_eq(model_load(path, &ck, &why), 0, "%s", why);
    cr_expect_eq(ck.step, 2);
    free_ck(&ck);
    DIR *d = opendir(dir);
    int files = 0;
    for (struct dirent *e; (e = readdir(d));) files += e->d_name[0] != '.';
    closedir(d);
    cr_expect_eq(files, 1, "%d files in the directory after two saves", files);
}

Test(model_checkpoint, null_moments_load_as_zeros)
{
    char path[128];
    path_in(path, sizeof path, "b.ckpt");
    const char *why = NULL;
    cr_assert_eq(model_save(path, &small, 0, params, NULL, NULL, &why), 0, "%s", why);
    model_checkpoint ck;
    cr_assert_eq(model_load(path, &ck, &why), 0, "%s", why);
    cr_expect_eq(memcmp(ck.params, params, count * sizeof *params), 0);
    cr_expect_eq(ck.step, 0);
    for (size_t i = 0; i < count; i++) {
        unsigned char zero[sizeof(float)] = {0};
        cr_expect(!memcmp(&ck.m[i], zero, sizeof zero) && !memcmp(&ck.v[i], zero, sizeof zero),
                  "m[%zu] = %g, v[%zu] = %g, want +0", i, ck.m[i], i, ck.v[i]);
    }
    free_ck(&ck);
}

/* Loads `path` into a sentinel-filled checkpoint: must fail, say `expect` (a substring
 * of the reason), and leave every byte of the struct alone. */
static void expect_refused(const char *path, const char *expect, const char *what)
{
    model_checkpoint ck, before;
    memset(&ck, 0xA5, sizeof ck);
    memcpy(&before, &ck, sizeof ck);
    const char *why = NULL;
    cr_expect_eq(model_load(path, &ck, &why), -1, "%s: load succeeded", what);
    cr_expect(why != NULL && strstr(why, expect) != NULL, "%s: reason \"%s\", want \"%s\"",
              what, why ? why : "(null)", expect);
    cr_expect_eq(memcmp(&ck, &before, sizeof ck), 0, "%s: the caller's struct changed", what);
}

Test(model_checkpoint, damaged_files_are_refused)
{
    char good[128], bad[128];
    path_in(good, sizeof good, "good.ckpt");
    path_in(bad, sizeof bad, "bad.ckpt");
    const char *why = NULL;
    cr_assert_eq(model_save(good, &small, 99, params, m, v, &why), 0, "%s", why);
    size_t len;
    unsigned char *b = read_all(good, &len);
    /* the layout of checkpoint.c: header, params, m, v (count floats each), u64 hash */
    const size_t data = 3 * count * sizeof(float), header = len - data - 8;
    cr_assert(len > data + 8 && header >= 8 + 4 + 5 * 4 + 8 + 8 && header <= 64,
              "file of %zu bytes for %zu parameters", len, count);

    const struct { size_t at; const char *expect; } cuts[] = {
        {0, "truncated header"},
        {7, "truncated header"},
        {header - 1, "truncated header"},
        {header, "truncated data"},
        {header + count * sizeof(float) / 2 + 1, "truncated data"},  /* inside params */
        {header + 2 * count * sizeof(float) + 3, "truncated data"},  /* inside v */
        {len - 8, "truncated checksum"},                              /* before it */
        {len - 1, "truncated checksum"},
    };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "truncated at %zu of %zu bytes", cuts[i].at, len);
        write_all(bad, b, cuts[i].at);
        expect_refused(bad, cuts[i].expect, what);
    }

    /* one flipped bit in params, in m, in v, in the step; the checksum catches each */
    const size_t flips[] = {header + 5, header + count * sizeof(float) + 2, len - 9,
                            header - 16 /* the step */};
    for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "byte %zu flipped", flips[i]);
        b[flips[i]] ^= 0x10;
        write_all(bad, b, len);
        b[flips[i]] ^= 0x10;
        expect_refused(bad, "checksum mismatch", what);
    }

    b[0] = 'X';
    write_all(bad, b, len);
    b[0] = 'C';
    expect_refused(bad, "not a model checkpoint", "wrong magic");

    /* heads 2 -> 3 in the header: D = 8 no longer divides */
    int32_t heads;
    memcpy(&heads, b + 12 + 3 * 4, 4);
    cr_assert_eq(heads, small.heads, "header layout assumed wrongly");
    const int32_t three = 3;
    memcpy(b + 12 + 3 * 4, &three, 4);
    write_all(bad, b, len);
    memcpy(b + 12 + 3 * 4, &heads, 4);
    expect_refused(bad, "corrupt configuration", "bad config in the header");

    b[len] = 0;
    write_all(bad, b, len + 1);
    expect_refused(bad, "trailing bytes", "one trailing byte");

    write_all(bad, b, len);
    model_checkpoint ck;
    cr_expect_eq(model_load(bad, &ck, &why), 0, "the undamaged copy: %s", why);
    free_ck(&ck);

    path_in(bad, sizeof bad, "missing.ckpt");
    expect_refused(bad, "cannot open", "nonexistent path");
    free(b);
}

Test(model_checkpoint, save_errors)
{
    const char *why = NULL;
    char path[128];
    path_in(path, sizeof path, "no/such/dir/x.ckpt");
    cr_expect_eq(model_save(path, &small, 0, params, m, v, &why), -1);
    cr_expect_not_null(why);
    model_config bad = small;
    bad.layers = 0;
    why = NULL;
    path_in(path, sizeof path, "c.ckpt");
    cr_expect_eq(model_save(path, &bad, 0, params, m, v, &why), -1);
    cr_expect_not_null(why);
    cr_expect_eq(access(path, F_OK), -1, "a refused save created the file");
}

Test(model_config, errors_are_named)
{
    const model_config ok = {.vocab = 8, .max_n = 16, .d_model = 32, .heads = 2, .layers = 2};
    cr_expect_null(model_config_error(&ok), "valid config refused: %s", model_config_error(&ok));
    cr_expect_gt(model_param_count(&ok), 0);
    struct { model_config c; const char *what; } bad[] = {
        {{8, 16, 32, 2, 0}, "layers = 0"},
        {{8, 16, 32, 0, 2}, "heads = 0"},
        {{8, 16, 30, 4, 2}, "d_model 30 over 4 heads"},
        {{0, 16, 32, 2, 2}, "vocab = 0"},
        {{8, 0, 32, 2, 2}, "max_n = 0"},
        {{8, 16, 0, 2, 2}, "d_model = 0"},
        {{8, 16, 32, 2, -1}, "layers < 0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *e = model_config_error(&bad[i].c);
        cr_expect(e != NULL && e[0] != '\0', "%s: accepted", bad[i].what);
        cr_expect_eq(model_param_count(&bad[i].c), 0, "%s: has a parameter count", bad[i].what);
    }
    cr_expect_not_null(model_config_error(NULL));
}
