/*
** asterix.c - Asterix (Atari 2600) at the level of objects.
**
** Eight horizontal lanes; in each lane at most one object drifts across the screen,
** either a collectible ("Reward": cauldron, helmet, shield, ...) or a deadly lyre
** ("Enemy"). Asterix walks left/right and steps one lane up/down at a time. Touching a
** reward scores it; touching a lyre costs a life. Every 50 rewards the collectible kind
** changes to a more valuable one and objects drift faster. See README.md, ## Asterix.
*/
#include "game.h"

#include <string.h>

#define LANES        8
#define LANE_Y0      27      /* top of lane 0 */
#define LANE_DY      16      /* lane pitch */
#define OBJ_W        8
#define OBJ_H        11
#define PLAYER_W     8
#define PLAYER_H     11
#define PLAYER_XMIN  8
#define PLAYER_XMAX  144
#define PLAYER_VX    2       /* px per frame */
#define PLAYER_VY    4       /* px per frame; one lane change takes one step */
#define START_LIVES  3
#define DEATH_PAUSE  64      /* frames frozen after losing a life */
#define PER_STAGE    50      /* rewards collected before the kind changes */
#define MAX_STEPS    27000

enum { EMPTY, REWARD, LYRE };
enum { A_NOOP, A_UP, A_RIGHT, A_LEFT, A_DOWN, A_UPRIGHT, A_UPLEFT, A_DOWNRIGHT, A_DOWNLEFT, N_ACTIONS };

static const char *const actions[N_ACTIONS] = {
    "NOOP", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT", "DOWNRIGHT", "DOWNLEFT",
};

/* Points of the collectible of each stage (cauldron, helmet, shield, lamp, apple, ...). */
static const int stage_points[] = { 50, 100, 200, 300, 400, 500, 500, 500 };
#define N_STAGES ((int)(sizeof stage_points / sizeof stage_points[0]))

typedef struct {
    int kind;          /* EMPTY, REWARD or LYRE */
    int x;             /* left edge; objects enter and leave off screen */
    int dir;           /* +1 right, -1 left */
    int speed;         /* px per frame */
    int timer;         /* frames until the next object enters an empty lane */
} Lane;

/* Reported (clipped) position of an object at the previous step, for dx/dy. */
typedef struct { int x, y, seen; } Trace;

typedef struct {
    uint64_t rng;
    int px, py;        /* player top-left */
    int lane;          /* lane the player is in or moving to */
    int score, lives, steps, done;
    int pause;         /* frames left frozen after a death */
    int collected;     /* rewards collected so far */
    int bonus;         /* bonus lives awarded so far */
    Lane lanes[LANES];
    Trace prev[1 + LANES];   /* player, then one per lane */
} Asterix;

static int lane_y(int i) { return LANE_Y0 + i * LANE_DY; }
static int stage(const Asterix *s) { return s->collected / PER_STAGE; }

static int stage_value(const Asterix *s) {
    int k = stage(s);
    return stage_points[k < N_STAGES ? k : N_STAGES - 1];
}

/* Bonus lives at 10,000, 30,000, 50,000, 80,000, 110,000 and every 40,000 after. */
static int bonus_threshold(int k) {
    static const int first[] = { 10000, 30000, 50000, 80000, 110000 };
    return k < 5 ? first[k] : 110000 + 40000 * (k - 4);
}

static int overlap(int ax, int ay, int aw, int ah, int bx, int by, int bw, int bh) {
    return ax < bx + bw && bx < ax + aw && ay < by + bh && by < ay + ah;
}

/* Clips a rectangle to the frame; returns 0 when nothing of it is visible. */
static int clip(int *x, int *y, int *w, int *h) {
    int x1 = *x + *w, y1 = *y + *h;
    if (*x < 0) *x = 0;
    if (*y < 0) *y = 0;
    if (x1 > ATARI_WIDTH) x1 = ATARI_WIDTH;
    if (y1 > ATARI_HEIGHT) y1 = ATARI_HEIGHT;
    *w = x1 - *x;
    *h = y1 - *y;
    return *w > 0 && *h > 0;
}

/* The rectangle of object i (0 = player, 1.. = lanes) as reported; 0 if not visible. */
static int rect(const Asterix *s, int i, int *x, int *y, int *w, int *h) {
    if (i == 0) {
        *x = s->px; *y = s->py; *w = PLAYER_W; *h = PLAYER_H;
    } else {
        const Lane *l = &s->lanes[i - 1];
        if (l->kind == EMPTY) return 0;
        *x = l->x; *y = lane_y(i - 1); *w = OBJ_W; *h = OBJ_H;
    }
    return clip(x, y, w, h);
}

static void snapshot(Asterix *s) {
    for (int i = 0; i < 1 + LANES; i++) {
        int x = 0, y = 0, w = 0, h = 0;
        s->prev[i].seen = rect(s, i, &x, &y, &w, &h);
        s->prev[i].x = x;
        s->prev[i].y = y;
    }
}

static void empty_lane(Asterix *s, Lane *l) {
    l->kind = EMPTY;
    l->timer = atari_rng_int(&s->rng, 8, 80);
}

/* A new object enters an empty lane: lyres get likelier as the stages go by. */
static void spawn(Asterix *s, Lane *l) {
    int k = stage(s);
    int lyre_pct = 30 + 4 * (k < 7 ? k : 7);
    l->kind = atari_rng_int(&s->rng, 1, 100) <= lyre_pct ? LYRE : REWARD;
    l->dir = atari_rng_int(&s->rng, 0, 1) ? 1 : -1;
    l->speed = k < 8 ? 1 + k / 2 : 5;   /* 1, 1, 2, 2; the Obelix wave 3, 3, 4, 4; then 5 */
    l->x = l->dir > 0 ? -OBJ_W : ATARI_WIDTH;
}

static void lose_life(Asterix *s) {
    s->lives--;
    s->pause = DEATH_PAUSE;
    for (int i = 0; i < LANES; i++) empty_lane(s, &s->lanes[i]);
    if (s->lives <= 0) s->done = 1;
}

static void move_player(Asterix *s, int action) {
    int up = action == A_UP || action == A_UPRIGHT || action == A_UPLEFT;
    int down = action == A_DOWN || action == A_DOWNRIGHT || action == A_DOWNLEFT;
    int right = action == A_RIGHT || action == A_UPRIGHT || action == A_DOWNRIGHT;
    int left = action == A_LEFT || action == A_UPLEFT || action == A_DOWNLEFT;
    int ty = lane_y(s->lane);

    if (right) s->px += PLAYER_VX;
    if (left) s->px -= PLAYER_VX;
    if (s->px < PLAYER_XMIN) s->px = PLAYER_XMIN;
    if (s->px > PLAYER_XMAX) s->px = PLAYER_XMAX;
    /* A new lane change only starts once the previous one has finished. */
    if (s->py == ty) {
        if (up && s->lane > 0) s->lane--;
        if (down && s->lane < LANES - 1) s->lane++;
        ty = lane_y(s->lane);
    }
    if (s->py < ty) s->py += PLAYER_VY < ty - s->py ? PLAYER_VY : ty - s->py;
    if (s->py > ty) s->py -= PLAYER_VY < s->py - ty ? PLAYER_VY : s->py - ty;
}

/* One frame; returns the points scored. */
static int frame(Asterix *s, int action) {
    int reward = 0;
    if (s->pause > 0) {
        s->pause--;
        return 0;
    }
    move_player(s, action);
    for (int i = 0; i < LANES; i++) {
        Lane *l = &s->lanes[i];
        if (l->kind == EMPTY) {
            if (--l->timer <= 0) {
                spawn(s, l);
                s->prev[1 + i].seen = 0;   /* a new object: no dx/dy from the old one */
            }
            continue;
        }
        l->x += l->dir * l->speed;
        if (l->x < -OBJ_W || l->x > ATARI_WIDTH) {
            empty_lane(s, l);
            continue;
        }
        if (!overlap(s->px, s->py, PLAYER_W, PLAYER_H, l->x, lane_y(i), OBJ_W, OBJ_H)) continue;
        if (l->kind == LYRE) {
            lose_life(s);
            return reward;
        }
        reward += stage_value(s);
        s->collected++;
        if (s->score + reward >= bonus_threshold(s->bonus)) {
            s->bonus++;
            s->lives++;
        }
        empty_lane(s, l);
    }
    return reward;
}

static void reset(void *state, uint64_t seed) {
    Asterix *s = state;
    memset(s, 0, sizeof *s);
    s->rng = seed;
    s->lane = 4;
    s->px = 76;
    s->py = lane_y(s->lane);
    s->lives = START_LIVES;
    for (int i = 0; i < LANES; i++) empty_lane(s, &s->lanes[i]);
    snapshot(s);
}

static AtariStep step(void *state, int action) {
    Asterix *s = state;
    AtariStep r = { 0, s->done };
    if (s->done) return r;
    if (action < 0 || action >= N_ACTIONS) action = A_NOOP;
    snapshot(s);
    for (int f = 0; f < ATARI_FRAMESKIP && !s->done; f++) r.reward += frame(s, action);
    s->score += r.reward;
    if (++s->steps >= MAX_STEPS) s->done = 1;
    r.done = s->done;
    return r;
}

static int objects(const void *state, AtariObject *out, int max) {
    const Asterix *s = state;
    int n = 0;
    for (int i = 0; i < 1 + LANES && n < max; i++) {
        AtariObject *o = &out[n];
        if (!rect(s, i, &o->x, &o->y, &o->w, &o->h)) continue;
        o->category = i == 0 ? "Player" : s->lanes[i - 1].kind == LYRE ? "Enemy" : "Reward";
        o->dx = s->prev[i].seen ? o->x - s->prev[i].x : 0;
        o->dy = s->prev[i].seen ? o->y - s->prev[i].y : 0;
        n++;
    }
    return n;
}

static int score(const void *state) { return ((const Asterix *)state)->score; }
static int lives(const void *state) { return ((const Asterix *)state)->lives; }

const AtariGame atari_asterix = {
    "asterix", actions, N_ACTIONS, sizeof(Asterix), MAX_STEPS,
    reset, step, objects, score, lives,
};
