/*
** interrupt.h - SIGINT and SIGTERM: a flag that hone's waits and the loop poll, so that an
** interrupted run stops cleanly (status `interrupted`, everything committed kept) instead
** of dying in the middle of a step.
**
** hone_interrupt_catch() installs the handler for SIGINT and SIGTERM; `hone run`, `hone
** resume` and `hone replay` call it (hone.catch_interrupts()), no other command does, so
** that a Ctrl-C ends a test run or a sweep at once as usual. SIGINT is left alone when
** hone was started with it ignored (a background job of a non-interactive shell): whoever
** started hone so meant it. The handler only records the signal and restores the default
** action, so a second SIGINT or SIGTERM ends hone at once. It is installed with SA_RESTART:
** system calls that restart (reads, SQLite's I/O) are not disturbed; the waits that matter
** (poll in llm.c and sandbox_exec.c) return early with EINTR and look at the flag.
**
** Who looks, and what they do (each file's header says the rest):
**   llm.c           a batch ends every request not finished yet with kind "interrupted":
**                   transfers in flight are aborted, no new attempt is made
**   sandbox_exec.c  runs in flight are stopped as by their time cap, with kind
**                   "interrupted"; runs not started yet are not started
**   loop.lua        a step that saw the flag is not committed; the run stops before the
**                   next one (lua/hone/loop.lua, Run:check_interrupt)
*/
#ifndef HONE_INTERRUPT_H
#define HONE_INTERRUPT_H

/* Installs the handler (once; later calls do nothing). */
void hone_interrupt_catch(void);

/* The signal that interrupted hone (SIGINT or SIGTERM), or 0. Only ever set by the handler:
** once set it stays set for the life of the process. */
int hone_interrupted(void);

#endif
