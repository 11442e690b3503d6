/*
** freeway.c - Freeway (Atari 2600, game 1, ALE's Freeway) at the level of objects.
**
** The player's chicken (x 44) crosses ten lanes of traffic from the bottom sidewalk to the
** top one; each crossing scores a point and puts the chicken back at the bottom. One car
** per lane: the five upper lanes drive left, the five lower ones right, each at its own
** constant speed, wrapping around the screen. A car that hits the chicken pushes it back
** down about a lane, during which the chicken cannot be steered. The game lasts 2 min 16 s
** (8160 frames, 2040 steps); there are no lives.
*/
#include "game.h"

#include <string.h>

#define LANES          10
#define LANE_TOP       23         /* lane i spans rows LANE_TOP + 16 i .. + 15 */
#define LANE_H         16
#define CAR_W          7
#define CAR_H          10
#define CAR_DY         4          /* a car's top, below its lane's top */
#define CYCLE          (ATARI_WIDTH + CAR_W)   /* a car wraps from one edge to the other */
#define SUB            16         /* car positions: 1/16 px */
#define CHICKEN_X      44
#define CHICKEN_W      6
#define CHICKEN_H      8
#define CHICKEN_SUB    4          /* chicken positions: 1/4 px */
#define CHICKEN_SPEED  3          /* 1/4 px per frame */
#define START_Y        187
#define GOAL_Y         14         /* a chicken at or above this row has crossed */
#define KNOCK_FRAMES   16         /* pushed down 1 px per frame, not steerable */
#define GAME_FRAMES    8160

enum { NOOP, UP, DOWN };
static const char *const actions[] = {"NOOP", "UP", "DOWN"};

/* 1/16 px per frame; negative drives left. The middle lanes are the fastest. */
static const int lane_speed[LANES] = {-8, -12, -18, -24, -32, 32, 24, 18, 12, 8};

typedef struct {
    uint64_t rng;
    int car_x[LANES];               /* left edge, 1/16 px, in [-CAR_W, ATARI_WIDTH) */
    int car_wraps[LANES];           /* times each car wrapped around: a wrapped car is new */
    int chicken_y;                  /* top edge, 1/4 px */
    int knock;                      /* frames of knock-back left */
    int frames, points, done;
    /* the previous step's boxes, for dx and dy */
    int prev_chicken_y, prev_points, prev_car_x[LANES], prev_car_seen[LANES], prev_car_wraps[LANES];
} Freeway;

/* A car's left edge in pixels (rounded down: it may be negative). */
static int car_left(int car_x) {
    return car_x >= 0 ? car_x / SUB : -((-car_x + SUB - 1) / SUB);
}

/* A car's box clipped to the screen: 1 if any of it shows, with its x and width. */
static int car_box(int car_x, int *x, int *w) {
    int left = car_left(car_x);
    int x0 = left < 0 ? 0 : left;
    int x1 = left + CAR_W > ATARI_WIDTH ? ATARI_WIDTH : left + CAR_W;
    *x = x0;
    *w = x1 - x0;
    return x1 > x0;
}

static void reset(void *state, uint64_t seed) {
    Freeway *f = state;
    memset(f, 0, sizeof *f);
    f->rng = seed;
    for (int i = 0; i < LANES; i++) f->car_x[i] = atari_rng_int(&f->rng, -CAR_W * SUB, ATARI_WIDTH * SUB - 1);
    f->chicken_y = START_Y * CHICKEN_SUB;
    f->prev_chicken_y = START_Y;
    for (int i = 0; i < LANES; i++) {
        int x, w;
        f->prev_car_seen[i] = car_box(f->car_x[i], &x, &w);
        f->prev_car_x[i] = x;
    }
}

static int hits_chicken(const Freeway *f, int lane) {
    int cy = f->chicken_y / CHICKEN_SUB;
    int car_y = LANE_TOP + lane * LANE_H + CAR_DY;
    if (cy + CHICKEN_H <= car_y || cy >= car_y + CAR_H) return 0;
    int left = car_left(f->car_x[lane]);
    return left < CHICKEN_X + CHICKEN_W && left + CAR_W > CHICKEN_X;
}

static int frame(Freeway *f, int action) {
    for (int i = 0; i < LANES; i++) {
        f->car_x[i] += lane_speed[i];
        if (f->car_x[i] >= ATARI_WIDTH * SUB) f->car_x[i] -= CYCLE * SUB, f->car_wraps[i]++;
        else if (f->car_x[i] < -CAR_W * SUB) f->car_x[i] += CYCLE * SUB, f->car_wraps[i]++;
    }
    int reward = 0;
    if (f->knock > 0) {
        f->knock--;
        f->chicken_y += CHICKEN_SUB;
    } else if (action == UP) {
        f->chicken_y -= CHICKEN_SPEED;
    } else if (action == DOWN) {
        f->chicken_y += CHICKEN_SPEED;
    }
    if (f->chicken_y > START_Y * CHICKEN_SUB) f->chicken_y = START_Y * CHICKEN_SUB;
    if (f->chicken_y <= GOAL_Y * CHICKEN_SUB) {
        reward = 1;
        f->chicken_y = START_Y * CHICKEN_SUB;
        f->knock = 0;
    } else if (f->knock == 0) {
        for (int i = 0; i < LANES; i++)
            if (hits_chicken(f, i)) {
                f->knock = KNOCK_FRAMES;
                break;
            }
    }
    if (++f->frames >= GAME_FRAMES) f->done = 1;
    return reward;
}

static AtariStep step(void *state, int action) {
    Freeway *f = state;
    AtariStep r = {0, f->done};
    if (f->done) return r;
    f->prev_chicken_y = f->chicken_y / CHICKEN_SUB;
    f->prev_points = f->points;
    for (int i = 0; i < LANES; i++) {
        int w;
        f->prev_car_seen[i] = car_box(f->car_x[i], &f->prev_car_x[i], &w);
        f->prev_car_wraps[i] = f->car_wraps[i];
    }
    for (int k = 0; k < ATARI_FRAMESKIP && !f->done; k++) r.reward += frame(f, action);
    f->points += r.reward;
    r.done = f->done;
    return r;
}

static void put(AtariObject *o, const char *cat, int x, int y, int w, int h, int dx, int dy) {
    o->category = cat;
    o->x = x;
    o->y = y;
    o->w = w;
    o->h = h;
    o->dx = dx;
    o->dy = dy;
}

static int objects(const void *state, AtariObject *out, int max) {
    const Freeway *f = state;
    int n = 0;
    int cy = f->chicken_y / CHICKEN_SUB;
    /* A chicken put back at the start and a car that wrapped around are new objects: dx, dy 0. */
    int crossed = f->points != f->prev_points;
    if (n < max) put(&out[n++], "Chicken", CHICKEN_X, cy, CHICKEN_W, CHICKEN_H, 0, crossed ? 0 : cy - f->prev_chicken_y);
    for (int i = 0; i < LANES && n < max; i++) {
        int x, w;
        if (!car_box(f->car_x[i], &x, &w)) continue;
        int seen = f->prev_car_seen[i] && f->prev_car_wraps[i] == f->car_wraps[i];
        put(&out[n++], "Car", x, LANE_TOP + i * LANE_H + CAR_DY, w, CAR_H, seen ? x - f->prev_car_x[i] : 0, 0);
    }
    return n;
}

static int score(const void *state) {
    return ((const Freeway *)state)->points;
}

static int lives(const void *state) {
    (void)state;
    return 1;
}

const AtariGame atari_freeway = {
    .name = "freeway",
    .actions = actions,
    .n_actions = 3,
    .state_size = sizeof(Freeway),
    .max_steps = GAME_FRAMES / ATARI_FRAMESKIP,
    .reset = reset,
    .step = step,
    .objects = objects,
    .score = score,
    .lives = lives,
};
