/* csv_out.c: a results CSV written to a temp file and renamed over its destination
 * (csv_out.h). The signals that can be caught remove the temp file; SIGKILL cannot be:
 * .gitignore covers what it leaves. */
#include "csv_out.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const int caught[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
enum { NCAUGHT = sizeof caught / sizeof caught[0] };

struct csv_out {
    FILE *f;
    char *path;
    char *tmp;
    const char *who;
    const csv_format *fmt;
    int catching;                     /* this writer's handler is installed */
    struct sigaction old[NCAUGHT];    /* the dispositions it replaced */
    int replaced[NCAUGHT];
};

/* The temp file the signal handler removes (one writer at a time). */
static char *volatile pending_tmp;

static void on_signal(int sig)
{
    if (pending_tmp) unlink(pending_tmp);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* A signal the program ignores stays ignored (`nohup make bench` must survive logout),
 * and one it handles stays its own. */
static void catch_signals(csv_out *c)
{
    if (pending_tmp) return;
    pending_tmp = c->tmp;
    c->catching = 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    for (int i = 0; i < NCAUGHT; i++)
        c->replaced[i] = sigaction(caught[i], NULL, &c->old[i]) == 0 &&
                         c->old[i].sa_handler == SIG_DFL && sigaction(caught[i], &sa, NULL) == 0;
}

static void release(csv_out *c)
{
    if (c->catching) {
        for (int i = 0; i < NCAUGHT; i++)
            if (c->replaced[i]) sigaction(caught[i], &c->old[i], NULL);
        pending_tmp = NULL;
    }
    free(c->tmp);
    free(c->path);
    free(c);
}

csv_out *csv_out_open(const char *who, const char *path, const csv_format *fmt)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "%s: cannot write results to '%s': it is a directory\n", who, path);
        return NULL;
    }
    csv_out *c = calloc(1, sizeof *c);
    size_t len = strlen(path);
    if (!c || !(c->path = malloc(len + 1)) || !(c->tmp = malloc(len + 16))) {
        fprintf(stderr, "%s: out of memory\n", who);
        if (c) free(c->path);
        free(c);
        return NULL;
    }
    c->who = who;
    c->fmt = fmt;
    memcpy(c->path, path, len + 1);
    snprintf(c->tmp, len + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(c->tmp);
    if (fd < 0) {
        fprintf(stderr, "%s: cannot write results to '%s': %s%s\n", who, path, strerror(errno),
                errno == ENOENT ? " (its directory does not exist)" : "");
        release(c);
        return NULL;
    }
    fchmod(fd, 0644);
    c->f = fdopen(fd, "w");
    if (!c->f) {
        fprintf(stderr, "%s: cannot write results to '%s': %s\n", who, path, strerror(errno));
        close(fd);
        unlink(c->tmp);
        release(c);
        return NULL;
    }
    catch_signals(c);
    csv_write_header(c->f, fmt);
    return c;
}

int csv_out_record(csv_out *c, const void *rec)
{
    csv_write_record(c->f, c->fmt, rec);
    fflush(c->f);
    if (ferror(c->f)) {
        fprintf(stderr, "%s: write error on '%s'\n", c->who, c->tmp);
        return -1;
    }
    return 0;
}

int csv_out_commit(csv_out *c)
{
    int bad = fflush(c->f) != 0 || ferror(c->f);
    bad |= fsync(fileno(c->f)) != 0;
    bad |= fclose(c->f) != 0;
    if (bad || rename(c->tmp, c->path) != 0) {
        fprintf(stderr, "%s: cannot write results to '%s': %s\n", c->who, c->path,
                strerror(errno));
        unlink(c->tmp);
        release(c);
        return -1;
    }
    release(c);
    return 0;
}

void csv_out_abort(csv_out *c)
{
    if (!c) return;
    fclose(c->f);
    unlink(c->tmp);
    release(c);
}
