/*
** game.h - the contract of one object-level Atari-style game engine.
**
** Each game lives in tasks/atari/<name>.c and exports one `const AtariGame atari_<name>`.
** An engine is plain C with no allocation and no global mutable state: everything a game
** needs lives in its state struct (state_size bytes, zeroed by the caller), including its
** random generator, so the same seed and the same actions give the same trace.
**
** Coordinates follow the original's 160x210 frame (x right, y down, pixels); one step is
** one agent decision with frameskip 4 already applied (the action repeats for 4 frames,
** rewards summed). Objects are what OCAtari would list: a category name ("Player",
** "Ball", "Enemy", ...), position of the top-left corner, size, and velocity in pixels per
** step (dx, dy; the difference from the previous step's position).
*/
#ifndef HONE_ATARI_GAME_H
#define HONE_ATARI_GAME_H

#include <stddef.h>
#include <stdint.h>

#define ATARI_MAX_OBJECTS 128
#define ATARI_FRAMESKIP   4
#define ATARI_WIDTH       160
#define ATARI_HEIGHT      210

typedef struct {
    const char *category;     /* static string, e.g. "Player" */
    int x, y, w, h;
    int dx, dy;
} AtariObject;

typedef struct {
    int reward;               /* points scored during this step (may be negative: Pong) */
    int done;                 /* the episode has ended (no lives left, time up, ...) */
} AtariStep;

typedef struct {
    const char *name;                   /* "pong", "breakout", ... (lower case, file name) */
    const char *const *actions;         /* the original's minimal action set, ALE names:
                                           "NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN",
                                           "UPFIRE", ... ; index = action number */
    int n_actions;
    size_t state_size;                  /* bytes of the game's state struct */
    int max_steps;                      /* a hard cap on episode length, in steps */

    /* Starts a new episode in state (state_size bytes, any content) from seed. */
    void (*reset)(void *state, uint64_t seed);
    /* Applies action (0..n_actions-1; out of range = NOOP) for ATARI_FRAMESKIP frames. */
    AtariStep (*step)(void *state, int action);
    /* Writes at most max objects into out; returns how many. */
    int (*objects)(const void *state, AtariObject *out, int max);
    int (*score)(const void *state);    /* the episode's score so far */
    int (*lives)(const void *state);    /* lives left (games without lives: 1 or 0) */
} AtariGame;

/* A small deterministic generator every engine may embed in its state (splitmix64). */
static inline uint64_t atari_rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform integer in [lo, hi]. */
static inline int atari_rng_int(uint64_t *s, int lo, int hi) {
    return lo + (int)(atari_rng_next(s) % (uint64_t)(hi - lo + 1));
}

extern const AtariGame atari_pong, atari_breakout, atari_space_invaders, atari_freeway,
    atari_asterix, atari_enduro, atari_qbert, atari_seaquest;

#endif
