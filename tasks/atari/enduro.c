/*
** enduro.c - Enduro (Atari 2600) at the level of objects.
**
** An endurance race on a straight three-lane road seen in perspective. The player's car
** sits at the bottom; other cars drive at a constant speed, so a faster player overtakes
** them (they come from the horizon and vanish below the player) and a slower one is
** overtaken (they come from below and drive off toward the horizon). Every day has a
** quota of cars to pass (200 on day 1, 300 after); the score is the number of cars
** passed, ALE style: overtaking scores +1, being overtaken -1, never below the start of
** the day, and nothing more once the quota is met. A day that ends with the quota unmet
** ends the race. See README.md, ## Enduro.
**
** Depth z is the distance of a car ahead of the player (negative: behind), in track
** units; the player's speed v and the cars' speed are in track units per frame.
*/
#include "game.h"

#include <string.h>

#define MAX_CARS      8
#define HORIZON_Y     52     /* where the road meets the sky */
#define PLAYER_Y      144    /* top of the player's car */
#define CAR_W         16
#define CAR_H         11
#define ROAD_BOTTOM   177    /* lowest car bottom (a car just behind the player) */
#define PLAYER_XMIN   16
#define PLAYER_XMAX   128
#define STEER         1      /* px per frame */
#define V_MAX         256
#define V_CARS        128
#define ACCEL         2      /* per frame with FIRE */
#define BRAKE         4      /* per frame with DOWN */
#define COAST         1      /* per frame with neither */
#define Z_FAR         12000  /* cars appear here when the player is faster */
#define Z_BEHIND      1500   /* ... and here (negated) when it is slower */
#define Z_SCALE       1200   /* perspective: scale = Z_SCALE / (Z_SCALE + z) */
#define Z_HIT         150    /* cars closer than this (either way) touch the player */
#define LANE_GAP      2000   /* two cars in a lane keep at least this far apart */
#define DAY_FRAMES    13600  /* 3400 steps */
#define MAX_STEPS     27000

enum {
    A_NOOP, A_FIRE, A_RIGHT, A_LEFT, A_DOWN, A_DOWNRIGHT, A_DOWNLEFT, A_RIGHTFIRE, A_LEFTFIRE,
    N_ACTIONS
};

static const char *const actions[N_ACTIONS] = {
    "NOOP", "FIRE", "RIGHT", "LEFT", "DOWN", "DOWNRIGHT", "DOWNLEFT", "RIGHTFIRE", "LEFTFIRE",
};

typedef struct { int on, lane, z; } Car;      /* lane -1, 0, 1 */
typedef struct { int x, y, seen; } Trace;     /* reported position at the previous step */

typedef struct {
    uint64_t rng;
    int px;            /* left edge of the player's car */
    int v;             /* player speed */
    int day;           /* 1, 2, ... */
    int day_frame;     /* frames into the current day */
    int left;          /* cars still to pass today (the original's counter) */
    int gap;           /* track distance (relative to the traffic) until the next car */
    int score, steps, done;
    Car cars[MAX_CARS];
    Trace prev[1 + MAX_CARS];
} Enduro;

static int quota(int day) { return day == 1 ? 200 : 300; }

/* Perspective scale of a car at depth z, in 1/1024 (1024 at the player and behind). */
static int scale(int z) { return z <= 0 ? 1024 : 1024 * Z_SCALE / (Z_SCALE + z); }

static int car_center(int lane, int z) { return 80 + lane * (3 + 38 * scale(z) / 1024); }

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

/* Object i (0 = player, 1.. = cars) as reported; 0 if not visible. */
static int rect(const Enduro *s, int i, int *x, int *y, int *w, int *h) {
    if (i == 0) {
        *x = s->px; *y = PLAYER_Y; *w = CAR_W; *h = CAR_H;
        return 1;
    }
    const Car *c = &s->cars[i - 1];
    if (!c->on || c->z > Z_FAR || c->z < -Z_BEHIND) return 0;
    int k = scale(c->z), bottom;
    if (c->z >= 0) bottom = HORIZON_Y + (PLAYER_Y + CAR_H - HORIZON_Y) * k / 1024;
    else bottom = PLAYER_Y + CAR_H + (ROAD_BOTTOM - PLAYER_Y - CAR_H) * -c->z / Z_BEHIND;
    *w = CAR_W * k / 1024 > 2 ? CAR_W * k / 1024 : 2;
    *h = CAR_H * k / 1024 > 1 ? CAR_H * k / 1024 : 1;
    *x = car_center(c->lane, c->z) - *w / 2;
    *y = bottom - *h;
    return clip(x, y, w, h);
}

static void snapshot(Enduro *s) {
    for (int i = 0; i < 1 + MAX_CARS; i++) {
        int x = 0, y = 0, w = 0, h = 0;
        s->prev[i].seen = rect(s, i, &x, &y, &w, &h);
        s->prev[i].x = x;
        s->prev[i].y = y;
    }
}

static int lane_free(const Enduro *s, int lane, int z) {
    for (int i = 0; i < MAX_CARS; i++) {
        const Car *c = &s->cars[i];
        if (c->on && c->lane == lane && c->z - z < LANE_GAP && z - c->z < LANE_GAP) return 0;
    }
    return 1;
}

/* Cars are spread along the road, so they come the faster the faster the player
** overtakes them; traffic gets denser day by day. Never all three lanes at once. */
static void spawn_car(Enduro *s) {
    int d = s->day < 5 ? s->day : 5, z = s->v > V_CARS ? Z_FAR : -Z_BEHIND, near = 0;
    s->gap = atari_rng_int(&s->rng, 2200 - 200 * d, 6200 - 600 * d);
    for (int i = 0; i < MAX_CARS; i++)
        near += s->cars[i].on && s->cars[i].z - z < 3000 && z - s->cars[i].z < 3000;
    if (near >= 2) return;
    int lane = atari_rng_int(&s->rng, -1, 1);
    if (!lane_free(s, lane, z)) return;
    for (int i = 0; i < MAX_CARS; i++) {
        if (s->cars[i].on) continue;
        s->cars[i] = (Car){ 1, lane, z };
        s->prev[1 + i].seen = 0;           /* a new car: no dx/dy from the slot's old one */
        return;
    }
}

/* Overtaking: +1 toward the quota; being overtaken: -1, never beyond the day's start. */
static int count_pass(Enduro *s, int passed) {
    if (s->left == 0) return 0;
    if (passed) { s->left--; return 1; }
    if (s->left >= quota(s->day)) return 0;
    s->left++;
    return -1;
}

static int frame(Enduro *s, int action) {
    int fire = action == A_FIRE || action == A_RIGHTFIRE || action == A_LEFTFIRE;
    int brake = action == A_DOWN || action == A_DOWNRIGHT || action == A_DOWNLEFT;
    int right = action == A_RIGHT || action == A_DOWNRIGHT || action == A_RIGHTFIRE;
    int left = action == A_LEFT || action == A_DOWNLEFT || action == A_LEFTFIRE;
    int reward = 0;

    s->v += fire ? ACCEL : brake ? -BRAKE : -COAST;
    if (s->v < 0) s->v = 0;
    if (s->v > V_MAX) s->v = V_MAX;
    if (right) s->px += STEER;
    if (left) s->px -= STEER;
    if (s->px < PLAYER_XMIN) s->px = PLAYER_XMIN;
    if (s->px > PLAYER_XMAX) s->px = PLAYER_XMAX;

    for (int i = 0; i < MAX_CARS; i++) {
        Car *c = &s->cars[i];
        if (!c->on) continue;
        int z0 = c->z;
        c->z += V_CARS - s->v;
        if (z0 >= 0 && c->z < 0) reward += count_pass(s, 1);
        if (z0 < 0 && c->z >= 0) reward += count_pass(s, 0);
        int dx = car_center(c->lane, 0) - (s->px + CAR_W / 2);
        if (c->z > -Z_HIT && c->z < Z_HIT && dx > -CAR_W && dx < CAR_W) {
            /* A crash stops the player; the other car is bumped ahead of it. */
            if (c->z < 0) reward += count_pass(s, 0);
            s->v = 0;
            c->z = Z_HIT;
        }
        if (c->z > Z_FAR + 1000 || c->z < -Z_BEHIND - 1000) c->on = 0;
    }
    s->gap -= s->v > V_CARS ? s->v - V_CARS : V_CARS - s->v;
    if (s->gap <= 0) spawn_car(s);

    if (++s->day_frame >= DAY_FRAMES) {
        if (s->left > 0) {
            s->done = 1;
            return reward;
        }
        s->day++;
        s->day_frame = 0;
        s->left = quota(s->day);
    }
    return reward;
}

static void reset(void *state, uint64_t seed) {
    Enduro *s = state;
    memset(s, 0, sizeof *s);
    s->rng = seed;
    s->px = 72;
    s->day = 1;
    s->left = quota(1);
    s->gap = atari_rng_int(&s->rng, 1000, 4000);
    snapshot(s);
}

static AtariStep step(void *state, int action) {
    Enduro *s = state;
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
    const Enduro *s = state;
    int n = 0;
    for (int i = 0; i < 1 + MAX_CARS && n < max; i++) {
        AtariObject *o = &out[n];
        if (!rect(s, i, &o->x, &o->y, &o->w, &o->h)) continue;
        o->category = i == 0 ? "Player" : "Car";
        o->dx = s->prev[i].seen ? o->x - s->prev[i].x : 0;
        o->dy = s->prev[i].seen ? o->y - s->prev[i].y : 0;
        n++;
    }
    return n;
}

static int score(const void *state) { return ((const Enduro *)state)->score; }
static int lives(const void *state) { return !((const Enduro *)state)->done; }

const AtariGame atari_enduro = {
    "enduro", actions, N_ACTIONS, sizeof(Enduro), MAX_STEPS,
    reset, step, objects, score, lives,
};
