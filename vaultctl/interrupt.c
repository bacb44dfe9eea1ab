/* Ctrl-C for long commands (import, key rewrap): the first one asks the
 * command to stop at its next safe point, where it says what was done and
 * how to go on; a second one ends vaultctl at once. */
#include <signal.h>

#include "vaultctl.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
        (void)sig;
        interrupted = 1;
}

void interrupt_catch(void)
{
        /* SA_RESETHAND: the second Ctrl-C gets the default action. Without
         * SA_RESTART a read from a pipe or terminal returns at once, while a
         * reply from vaultd is still awaited (client.c waits again after
         * EINTR). */
        struct sigaction sa = {.sa_handler = on_sigint, .sa_flags = SA_RESETHAND};

        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
}

bool interrupt_requested(void)
{
        return interrupted != 0;
}
