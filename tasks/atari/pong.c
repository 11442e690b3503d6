/*
** pong.c - Pong (Atari 2600 "Video Olympics", ALE's Pong) at the level of objects.
**
** The player's paddle is on the right (x 140), the computer's on the left (x 16); the
** ball bounces off the walls at the top and bottom of the field (y 34..194). A paddle
** sends the ball back at an angle set by where it hits: the farther from the paddle's
** center, the steeper, and the outer thirds of each half also faster. The computer
** follows where the ball was a few frames ago, at a capped speed, so steep shots beat
** it. First to 21 points ends the game; reward +1 per point won, -1 per point lost.
*/
#include "game.h"

#include <string.h>

#define TOP           34          /* first row of the field */
#define BOTTOM        194         /* first row below it */
#define PADDLE_W      4
#define PADDLE_H      16
#define PLAYER_X      140
#define ENEMY_X       16
#define BALL_W        2
#define BALL_H        4
#define PLAYER_SPEED  2           /* px per frame */
#define ENEMY_SPEED   2
#define ENEMY_LAG     4           /* frames: the computer chases the ball's past position */
#define SERVE_DELAY   64          /* frames between a point and the next serve */
#define WIN_POINTS    21

enum { NOOP, FIRE, RIGHT, LEFT, RIGHTFIRE, LEFTFIRE };
static const char *const actions[] = {"NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"};

typedef struct {
    uint64_t rng;
    int player_y, enemy_y;              /* top edges */
    int ball_x, ball_y, ball_vx, ball_vy, ball_live;
    int ball_hist[ENEMY_LAG];           /* the ball's y over the last frames, for the lag */
    int frame;
    int serve_timer;                    /* frames until the ball is served, while not live */
    int serve_dir;                      /* +1 toward the player, -1 toward the computer */
    int player_points, enemy_points;
    int rally;                          /* paddle hits since the serve */
    int done;
    /* the previous step's positions, for dx and dy */
    int prev_player_y, prev_enemy_y, prev_ball_x, prev_ball_y, prev_ball_live;
} Pong;

static int clamp(int v, int lo, int hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

static void serve(Pong *p) {
    static const int vys[] = {-2, -1, 1, 2};
    p->ball_x = 78;
    p->ball_y = atari_rng_int(&p->rng, TOP + 30, BOTTOM - 30 - BALL_H);
    p->ball_vx = 2 * p->serve_dir;
    p->ball_vy = vys[atari_rng_int(&p->rng, 0, 3)];
    p->ball_live = 1;
    for (int i = 0; i < ENEMY_LAG; i++) p->ball_hist[i] = p->ball_y;
}

static void reset(void *state, uint64_t seed) {
    Pong *p = state;
    memset(p, 0, sizeof *p);
    p->rng = seed;
    p->player_y = p->enemy_y = (TOP + BOTTOM - PADDLE_H) / 2;
    p->serve_timer = SERVE_DELAY;
    p->serve_dir = atari_rng_int(&p->rng, 0, 1) ? 1 : -1;
    p->prev_player_y = p->player_y;
    p->prev_enemy_y = p->enemy_y;
}

/* A return off the paddle whose top is pad_y: the zone hit sets the angle and speed. */
static void bounce(Pong *p, int pad_y, int dir) {
    int off = p->ball_y + BALL_H / 2 - (pad_y + PADDLE_H / 2);     /* -9..9 */
    int mag = off < 0 ? -off : off;
    int speed = mag <= 2 ? 1 : mag <= 5 ? 2 : 3;
    int sign = off < 0 ? -1 : off > 0 ? 1 : (p->ball_vy < 0 ? -1 : 1);
    /* A long rally speeds the ball up, as the original does, so that no pair of
       deterministic players can keep one going forever: faster across, and after a
       dozen hits steeper than the computer's paddle can follow. */
    p->rally++;
    p->ball_vy = sign * (speed + (p->rally >= 12));
    int boost = p->rally / 6 > 2 ? 2 : p->rally / 6;
    p->ball_vx = dir * ((speed == 3 ? 3 : 2) + boost);
}

static int overlaps(const Pong *p, int pad_y) {
    return p->ball_y + BALL_H > pad_y && p->ball_y < pad_y + PADDLE_H;
}

/* Moves the ball one frame; returns the reward (+1, -1 or 0). */
static int move_ball(Pong *p) {
    p->ball_y += p->ball_vy;
    if (p->ball_y < TOP) {
        p->ball_y = 2 * TOP - p->ball_y;
        p->ball_vy = -p->ball_vy;
    } else if (p->ball_y + BALL_H > BOTTOM) {
        p->ball_y = 2 * (BOTTOM - BALL_H) - p->ball_y;
        p->ball_vy = -p->ball_vy;
    }
    int nx = p->ball_x + p->ball_vx;
    /* A paddle is hit when the ball crosses its front face this frame. */
    if (p->ball_vx < 0 && p->ball_x >= ENEMY_X + PADDLE_W && nx < ENEMY_X + PADDLE_W && overlaps(p, p->enemy_y)) {
        nx = ENEMY_X + PADDLE_W;
        bounce(p, p->enemy_y, 1);
    } else if (p->ball_vx > 0 && p->ball_x + BALL_W <= PLAYER_X && nx + BALL_W > PLAYER_X &&
               overlaps(p, p->player_y)) {
        nx = PLAYER_X - BALL_W;
        bounce(p, p->player_y, -1);
    }
    p->ball_x = nx;
    int reward = 0;
    if (nx < 2) reward = 1;
    else if (nx + BALL_W > ATARI_WIDTH - 2) reward = -1;
    if (reward) {
        p->ball_live = 0;
        p->rally = 0;
        p->serve_timer = SERVE_DELAY;
        p->serve_dir = reward > 0 ? -1 : 1;     /* toward whoever lost the point */
    }
    return reward;
}

static void move_enemy(Pong *p) {
    int target = (TOP + BOTTOM - PADDLE_H) / 2;
    if (p->ball_live) target = p->ball_hist[p->frame % ENEMY_LAG] + BALL_H / 2 - PADDLE_H / 2;
    p->enemy_y += clamp(target - p->enemy_y, -ENEMY_SPEED, ENEMY_SPEED);
    p->enemy_y = clamp(p->enemy_y, TOP, BOTTOM - PADDLE_H);
}

static int frame(Pong *p, int action) {
    if (action == RIGHT || action == RIGHTFIRE) p->player_y -= PLAYER_SPEED;
    else if (action == LEFT || action == LEFTFIRE) p->player_y += PLAYER_SPEED;
    p->player_y = clamp(p->player_y, TOP, BOTTOM - PADDLE_H);
    move_enemy(p);
    int reward = 0;
    if (p->ball_live) {
        reward = move_ball(p);
        p->ball_hist[p->frame % ENEMY_LAG] = p->ball_y;
    } else if (--p->serve_timer <= 0) {
        serve(p);
    }
    p->frame++;
    if (reward > 0) p->player_points++;
    if (reward < 0) p->enemy_points++;
    if (p->player_points >= WIN_POINTS || p->enemy_points >= WIN_POINTS) p->done = 1;
    return reward;
}

static AtariStep step(void *state, int action) {
    Pong *p = state;
    AtariStep r = {0, p->done};
    if (p->done) return r;
    p->prev_player_y = p->player_y;
    p->prev_enemy_y = p->enemy_y;
    p->prev_ball_x = p->ball_x;
    p->prev_ball_y = p->ball_y;
    p->prev_ball_live = p->ball_live;
    for (int f = 0; f < ATARI_FRAMESKIP && !p->done; f++) r.reward += frame(p, action);
    r.done = p->done;
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
    const Pong *p = state;
    int n = 0;
    if (n < max)
        put(&out[n++], "Player", PLAYER_X, p->player_y, PADDLE_W, PADDLE_H, 0, p->player_y - p->prev_player_y);
    if (n < max)
        put(&out[n++], "Enemy", ENEMY_X, p->enemy_y, PADDLE_W, PADDLE_H, 0, p->enemy_y - p->prev_enemy_y);
    if (p->ball_live && n < max) {
        int seen = p->prev_ball_live;
        put(&out[n++], "Ball", p->ball_x, p->ball_y, BALL_W, BALL_H, seen ? p->ball_x - p->prev_ball_x : 0,
            seen ? p->ball_y - p->prev_ball_y : 0);
    }
    return n;
}

static int score(const void *state) {
    const Pong *p = state;
    return p->player_points - p->enemy_points;
}

static int lives(const void *state) {
    (void)state;
    return 1;
}

const AtariGame atari_pong = {
    .name = "pong",
    .actions = actions,
    .n_actions = 6,
    .state_size = sizeof(Pong),
    .max_steps = 27000,
    .reset = reset,
    .step = step,
    .objects = objects,
    .score = score,
    .lives = lives,
};
