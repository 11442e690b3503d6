/*
** interrupt.c - SIGINT and SIGTERM as a flag. See interrupt.h.
*/
#include "interrupt.h"

#include <signal.h>
#include <string.h>

/* Process-wide by nature: a signal handler has nowhere else to write, and a handler is
** installed once per process. */
static volatile sig_atomic_t interrupted_by = 0;
static int caught = 0;

static void on_signal(int sig) {
    if (!interrupted_by) interrupted_by = sig;
}

static void catch(int sig, int unless_ignored) {
    struct sigaction sa, old;
    if (unless_ignored && sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN) return;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* SA_RESETHAND: the default comes back at once, so a second signal ends hone */
    sa.sa_flags = SA_RESTART | SA_RESETHAND;
    sigaction(sig, &sa, NULL);
}

void hone_interrupt_catch(void) {
    if (caught) return;
    caught = 1;
    catch(SIGINT, 1);
    catch(SIGTERM, 0);
}

int hone_interrupted(void) {
    return interrupted_by;
}
