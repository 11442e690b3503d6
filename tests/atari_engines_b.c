/*
** atari_engines_b.c - checks of the Asterix, Enduro, Q*bert and Seaquest engines.
**
**   cc -std=c11 -Wall -Wextra -Werror -D_DEFAULT_SOURCE -O2 -o /tmp/atari_b \
**      tests/atari_engines_b.c tasks/atari/asterix.c tasks/atari/enduro.c \
**      tasks/atari/qbert.c tasks/atari/seaquest.c && /tmp/atari_b
**
** Prints one line per check and "N passed, N failed"; exits non-zero on a failure. The
** reference policies below mirror, line for line where possible, the `reference` Lua
** source of tasks/atari/games/<name>.lua: a change to one must be made to the other.
**
** Persistence for dx/dy: an engine reports dx/dy as the change of the object's reported
** position since the previous step, and 0/0 for an object that just appeared. So every
** object with (dx, dy) != (0, 0) must have had an object of the same category at
** (x - dx, y - dy) in the previous step's list; that is what the dx/dy check asserts.
*/
#include "../tasks/atari/game.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int n_passed, n_failed;

static void check(int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", ok ? "ok  " : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (ok) n_passed++;
    else n_failed++;
}

/* ---- running games ------------------------------------------------------------ */

typedef struct {
    const AtariGame *g;
    unsigned char state[1 << 14];
    AtariObject obj[ATARI_MAX_OBJECTS];
    int n;
} Run;

static void run_reset(Run *r, const AtariGame *g, uint64_t seed) {
    r->g = g;
    if (g->state_size > sizeof r->state) {
        fprintf(stderr, "%s: state of %zu bytes is too large for the test\n", g->name, g->state_size);
        exit(2);
    }
    g->reset(r->state, seed);
    r->n = g->objects(r->state, r->obj, ATARI_MAX_OBJECTS);
}

static AtariStep run_step(Run *r, int action) {
    AtariStep st = r->g->step(r->state, action);
    r->n = r->g->objects(r->state, r->obj, ATARI_MAX_OBJECTS);
    return st;
}

static int action_of(const AtariGame *g, const char *name) {
    for (int i = 0; i < g->n_actions; i++)
        if (strcmp(g->actions[i], name) == 0) return i;
    fprintf(stderr, "%s has no action %s\n", g->name, name);
    exit(2);
}

static const AtariObject *find(const Run *r, const char *cat) {
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->obj[i].category, cat) == 0) return &r->obj[i];
    return NULL;
}

static int count(const Run *r, const char *cat) {
    int k = 0;
    for (int i = 0; i < r->n; i++) k += strcmp(r->obj[i].category, cat) == 0;
    return k;
}

static int same_objects(const Run *a, const Run *b) {
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++) {
        const AtariObject *p = &a->obj[i], *q = &b->obj[i];
        if (strcmp(p->category, q->category) || p->x != q->x || p->y != q->y || p->w != q->w ||
            p->h != q->h || p->dx != q->dx || p->dy != q->dy)
            return 0;
    }
    return 1;
}

/* A policy sees what the Lua policy sees: the objects, score, lives and step. */
typedef int (*Policy)(const Run *r, uint64_t *rng);

static int random_policy(const Run *r, uint64_t *rng) { return atari_rng_int(rng, 0, r->g->n_actions - 1); }

static int episode(const AtariGame *g, uint64_t seed, Policy pol, int max_steps) {
    static Run r;
    uint64_t rng = seed * 7919 + 17;
    run_reset(&r, g, seed);
    for (int t = 0; t < max_steps; t++)
        if (run_step(&r, pol(&r, &rng)).done) break;
    return g->score(r.state);
}

static int iabs(int v) { return v < 0 ? -v : v; }
static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }
static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Gap between [a0, a1) and [b0, b1); 0 when they overlap. */
static int gap(int a0, int a1, int b0, int b1) { return a1 <= b0 ? b0 - a1 : b1 <= a0 ? a0 - b1 : 0; }

/* "UP" + "RIGHT" + "FIRE" -> "UPRIGHTFIRE"; nothing -> "NOOP" (ALE's names). */
static int joystick(const AtariGame *g, int jx, int jy, int fire) {
    char name[32] = "";
    if (jy < 0) strcat(name, "UP");
    if (jy > 0) strcat(name, "DOWN");
    if (jx > 0) strcat(name, "RIGHT");
    if (jx < 0) strcat(name, "LEFT");
    if (fire) strcat(name, "FIRE");
    return action_of(g, name[0] ? name : "NOOP");
}

/* ---- reference policies (mirrored in the Lua specs) ---------------------------- */

/* Asterix: walk toward the nearest reward, never into a lyre's path. */
static int asterix_lane(int y) { return (y - 27 + 8) / 16; }

/* How close lyres in lane come to a player at x over the next steps (big = safe). */
static int asterix_clearance(const Run *r, int lane, int x, int steps) {
    int best = 1000;
    for (int i = 0; i < r->n; i++) {
        const AtariObject *o = &r->obj[i];
        if (strcmp(o->category, "Enemy") || asterix_lane(o->y) != lane) continue;
        int to = o->x + o->dx * steps;
        int x0 = imin(o->x, to), x1 = imax(o->x, to) + o->w;
        if (o->dx == 0) { x0 -= 16; x1 += 16; }   /* just appeared: direction unknown */
        best = imin(best, gap(x, x + 8, x0, x1));
    }
    return best;
}

static int asterix_reference(const Run *r, uint64_t *rng) {
    (void)rng;
    const AtariObject *p = find(r, "Player");
    if (!p) return 0;
    int lane = asterix_lane(p->y), best = -100000, choice = 0;
    for (int a = 0; a < r->g->n_actions; a++) {
        const char *name = r->g->actions[a];
        int jy = strstr(name, "UP") ? -1 : strstr(name, "DOWN") ? 1 : 0;
        int jx = strstr(name, "RIGHT") ? 1 : strstr(name, "LEFT") ? -1 : 0;
        int nl = clampi(lane + jy, 0, 7), nx = clampi(p->x + 8 * jx, 8, 144);
        /* Two steps in the new lane; leaving a lane takes part of a step. */
        int safe = asterix_clearance(r, nl, nx, 2);
        if (nl != lane) safe = imin(safe, asterix_clearance(r, lane, p->x, 1));
        int value;
        if (safe < 6) value = -10000 + safe;
        else {
            int d = 16 * iabs(nl - 4) + iabs(nx - 76) / 4 + 400;   /* nothing to get: idle mid-screen */
            for (int i = 0; i < r->n; i++) {
                const AtariObject *o = &r->obj[i];
                if (strcmp(o->category, "Reward")) continue;
                d = imin(d, 16 * iabs(asterix_lane(o->y) - nl) + iabs(o->x + 2 * o->dx - nx));
            }
            value = -d;
        }
        if (value > best) {
            best = value;
            choice = a;
        }
    }
    return choice;
}

/* Enduro: full throttle; steer into the lane whose nearest car ahead is farthest. */
static int enduro_reference(const Run *r, uint64_t *rng) {
    (void)rng;
    static const int center[3] = { 39, 80, 121 };
    const AtariObject *p = find(r, "Player");
    if (!p) return action_of(r->g, "FIRE");
    int near[3] = { 0, 0, 0 }, cur = 0;
    for (int i = 0; i < r->n; i++) {
        const AtariObject *o = &r->obj[i];
        if (strcmp(o->category, "Car") || o->y + o->h > p->y + p->h) continue;   /* behind */
        int c = o->x + o->w / 2, lane = c < 78 ? 0 : c > 82 ? 2 : 1;
        near[lane] = imax(near[lane], o->y + o->h);
    }
    for (int l = 1; l < 3; l++)
        if (iabs(p->x + 8 - center[l]) < iabs(p->x + 8 - center[cur])) cur = l;
    int goal = cur;
    for (int l = 0; l < 3; l++)
        if (near[l] + 8 * iabs(l - cur) < near[goal] + 8 * iabs(goal - cur)) goal = l;
    int tx = center[goal] - 8;
    if (p->x < tx - 1) return action_of(r->g, "RIGHTFIRE");
    if (p->x > tx + 1) return action_of(r->g, "LEFTFIRE");
    return action_of(r->g, "FIRE");
}

/* Q*bert: hop onto unfinished cubes, away from balls and Coily; lure Coily onto a disk. */
static const int qb_dx[4] = { 10, 10, -10, -10 }, qb_dy[4] = { -24, 24, -24, 24 };
static const char *const qb_move[4] = { "UP", "RIGHT", "LEFT", "DOWN" };

static const AtariObject *qbert_cube_at(const Run *r, int x, int y) {
    for (int i = 0; i < r->n; i++) {
        const AtariObject *o = &r->obj[i];
        if ((!strcmp(o->category, "Cube") || !strcmp(o->category, "ColoredCube")) && o->x == x && o->y == y)
            return o;
    }
    return NULL;
}

/* Is the cube at (x, y) where a ball or Coily is or may be next? Balls only fall. */
static int qbert_danger(const Run *r, int x, int y) {
    for (int i = 0; i < r->n; i++) {
        const AtariObject *o = &r->obj[i];
        int ex = o->x - 6, ey = o->y + o->h;        /* the cube under the enemy's feet */
        int ball = !strcmp(o->category, "RedBall") || !strcmp(o->category, "PurpleBall");
        if (ball && iabs(x - ex) <= 12 && y - ey >= -4 && y - ey <= 28) return 1;
        if (!strcmp(o->category, "Coily") && iabs(x - ex) <= 12 && iabs(y - ey) <= 28) return 1;
    }
    return 0;
}

static int qbert_reference(const Run *r, uint64_t *rng) {
    (void)rng;
    const AtariObject *p = find(r, "Player");
    if (!p) return 0;
    const AtariObject *here = qbert_cube_at(r, p->x - 6, p->y + p->h);
    if (!here) return 0;                                /* in the air: nothing to decide */
    const AtariObject *coily = find(r, "Coily");
    int best = qbert_danger(r, here->x, here->y) ? -400 : -100, choice = 0;
    for (int m = 0; m < 4; m++) {
        int tx = here->x + qb_dx[m], ty = here->y + qb_dy[m], value = -1000;
        const AtariObject *t = qbert_cube_at(r, tx, ty);
        if (!t) {
            for (int i = 0; i < r->n; i++) {
                const AtariObject *o = &r->obj[i];
                if (strcmp(o->category, "Disk") || o->x - 4 != tx || o->y != ty) continue;
                int near = coily && iabs(coily->x - p->x) <= 30 && iabs(coily->y - p->y) <= 60;
                value = near ? 100 : -200;
            }
        } else if (qbert_danger(r, tx, ty)) {
            value = -500;
        } else {
            value = strcmp(t->category, "Cube") ? 0 : 30;
            int d = 100;                                /* hops to the nearest unfinished cube */
            for (int i = 0; i < r->n; i++) {
                const AtariObject *o = &r->obj[i];
                if (strcmp(o->category, "Cube") || o == t) continue;
                d = imin(d, imax(iabs(o->x - tx) / 10, iabs(o->y - ty) / 24));
            }
            value -= d;
            for (int i = 0; i < r->n; i++) {
                const AtariObject *o = &r->obj[i];
                int prize = !strcmp(o->category, "GreenBall") || !strcmp(o->category, "Sam");
                if (prize && iabs(o->x - 6 - tx) <= 4 && iabs(o->y + o->h - ty) <= 4) value += 40;
            }
        }
        if (value > best) {
            best = value;
            choice = action_of(r->g, qb_move[m]);
        }
    }
    return choice;
}

/* Seaquest: hunt in the lanes, pick up divers, surface with air to spare. */
static int seaquest_lane_y(int lane) { return 69 + 24 * lane; }
static int seaquest_lane(int y) { return clampi((y - 69 + 12) / 24, 0, 3); }

static int seaquest_safe(const Run *r, int x, int y) {
    for (int i = 0; i < r->n; i++) {
        const AtariObject *o = &r->obj[i];
        const char *c = o->category;
        if (strcmp(c, "Shark") && strcmp(c, "Submarine") && strcmp(c, "EnemyMissile") &&
            strcmp(c, "SurfaceSubmarine"))
            continue;
        int to = o->x + 3 * o->dx, x0 = imin(o->x, to), x1 = imax(o->x, to) + o->w;
        if (o->dx == 0) { x0 -= 8; x1 += 8; }
        if (gap(x - 2, x + 18, x0, x1) == 0 && gap(y - 2, y + 13, o->y, o->y + o->h) == 0) return 0;
    }
    return 1;
}

static int seaquest_reference(const Run *r, uint64_t *rng) {
    (void)rng;
    const AtariObject *p = find(r, "Player");
    if (!p) return 0;
    const AtariObject *bar = find(r, "OxygenBar");
    int oxygen = bar ? bar->w : 0, divers = count(r, "CollectedDiver");
    int ty = 81, tx = 76, fire_dir = 0, best_d = 100000;

    if (divers == 6 || (divers > 0 && oxygen < 16)) ty = 46;
    else {
        for (int i = 0; i < r->n; i++) {              /* the nearest diver, else the nearest enemy */
            const AtariObject *o = &r->obj[i];
            int diver = !strcmp(o->category, "Diver");
            if (!diver && strcmp(o->category, "Shark") && strcmp(o->category, "Submarine")) continue;
            int ly = seaquest_lane_y(seaquest_lane(o->y));
            int d = iabs(ly - p->y) + iabs(o->x - p->x) / 4 + (diver ? 0 : 1000);
            if (d < best_d) {
                best_d = d;
                ty = ly;
                tx = diver ? clampi(o->x - 4, 21, 134) : 76;
            }
        }
    }
    for (int i = 0; i < r->n; i++) {                  /* an enemy in the torpedo's path */
        const AtariObject *o = &r->obj[i];
        if (strcmp(o->category, "Shark") && strcmp(o->category, "Submarine")) continue;
        int ly = seaquest_lane_y(seaquest_lane(o->y));
        if (p->y + 5 >= ly - 1 && p->y + 5 <= ly + 10) fire_dir = o->x > p->x ? 1 : -1;
    }
    int best = -100000, choice = 0;
    for (int jy = -1; jy <= 1; jy++)
        for (int jx = -1; jx <= 1; jx++) {
            int nx = clampi(p->x + 4 * jx, 21, 134), ny = clampi(p->y + 4 * jy, 46, 141);
            int value = -iabs(ny - ty) * 4 - iabs(nx - tx);
            if (!seaquest_safe(r, nx, ny)) value -= 10000;
            if (fire_dir != 0 && jx == fire_dir) value += 12;
            if (value > best) {
                best = value;
                choice = joystick(r->g, jx, jy, fire_dir != 0 && jx == fire_dir);
            }
        }
    return choice;
}

/* ---- generic checks ------------------------------------------------------------ */

typedef struct {
    const AtariGame *g;
    const char *const *actions;       /* ALE's minimal action set, in order */
    const char *const *categories;    /* every category the engine may report */
    int bonus_lives;                  /* the original gives extra lives */
    Policy reference;
    int eval_steps;                   /* the paper's evaluation episode length */
} Spec;

static int known_category(const Spec *sp, const char *c) {
    for (int i = 0; sp->categories[i]; i++)
        if (!strcmp(sp->categories[i], c)) return 1;
    return 0;
}

static void check_actions(const Spec *sp) {
    int n = 0, ok = 1;
    while (sp->actions[n]) n++;
    ok = n == sp->g->n_actions;
    for (int i = 0; ok && i < n; i++) ok = !strcmp(sp->actions[i], sp->g->actions[i]);
    check(ok, "%s: minimal action set (%d actions, ALE order)", sp->g->name, n);
}

static void check_determinism(const Spec *sp) {
    static Run a, b;
    uint64_t rng = 99;
    int same = 1, episodes = 0;
    run_reset(&a, sp->g, 7);
    run_reset(&b, sp->g, 7);
    for (int t = 0; t < 5000 && same; t++) {
        int act = atari_rng_int(&rng, 0, sp->g->n_actions - 1);
        AtariStep sa = run_step(&a, act), sb = run_step(&b, act);
        same = sa.reward == sb.reward && sa.done == sb.done && same_objects(&a, &b) &&
               sp->g->score(a.state) == sp->g->score(b.state) && sp->g->lives(a.state) == sp->g->lives(b.state);
        if (sa.done) {
            episodes++;
            run_reset(&a, sp->g, 7 + (uint64_t)episodes);
            run_reset(&b, sp->g, 7 + (uint64_t)episodes);
        }
    }
    check(same, "%s: determinism: same seed and actions give the same trace for 5000 steps", sp->g->name);

    int differ = 0;
    rng = 99;
    run_reset(&a, sp->g, 1);
    run_reset(&b, sp->g, 2);
    for (int t = 0; t < 5000 && !differ; t++) {
        int act = atari_rng_int(&rng, 0, sp->g->n_actions - 1);
        AtariStep sa = run_step(&a, act), sb = run_step(&b, act);
        differ = !same_objects(&a, &b) || sa.reward != sb.reward;
        if (sa.done || sb.done) break;
    }
    check(differ, "%s: determinism: seeds 1 and 2 give different traces", sp->g->name);
}

/* Objects in the frame, known categories, dx/dy consistent, lives, episode ends. */
static void check_objects(const Spec *sp) {
    static Run r;
    static AtariObject before[ATARI_MAX_OBJECTS];
    uint64_t rng = 4242;
    int n_before, bad_frame = 0, bad_cat = 0, bad_motion = 0, moving = 0, bad_lives = 0, bad_end = 0;
    int episodes = 0, long_episodes = 0, bad_done = 0, bad_score = 0;
    for (uint64_t seed = 100; seed < 140; seed++) {
        run_reset(&r, sp->g, seed);
        int start_lives = sp->g->lives(r.state), lives = start_lives, t;
        for (t = 1; t <= sp->g->max_steps; t++) {
            memcpy(before, r.obj, sizeof before);
            n_before = r.n;
            int score0 = sp->g->score(r.state);
            AtariStep st = run_step(&r, atari_rng_int(&rng, 0, sp->g->n_actions - 1));
            for (int i = 0; i < r.n; i++) {
                const AtariObject *o = &r.obj[i];
                if (o->w <= 0 || o->h <= 0 || o->x < 0 || o->y < 0 || o->x + o->w > ATARI_WIDTH ||
                    o->y + o->h > ATARI_HEIGHT)
                    bad_frame++;
                if (!o->category || !known_category(sp, o->category)) bad_cat++;
                if (o->dx == 0 && o->dy == 0) continue;
                int found = 0;
                moving++;
                for (int j = 0; j < n_before && !found; j++)
                    found = !strcmp(before[j].category, o->category) && before[j].x == o->x - o->dx &&
                            before[j].y == o->y - o->dy;
                bad_motion += !found;
            }
            int l = sp->g->lives(r.state), score1 = sp->g->score(r.state);
            if (l > lives && !(sp->bonus_lives && l == lives + 1 && st.reward > 0)) bad_lives++;
            if (!sp->bonus_lives && l > start_lives) bad_lives++;
            if (score1 - score0 != st.reward) bad_score++;
            lives = l;
            if (st.done) break;
        }
        episodes++;
        if (t > sp->g->max_steps) bad_end++;
        if (t > 2000) long_episodes++;
        AtariStep again = sp->g->step(r.state, 0);
        bad_done += !again.done || again.reward != 0;
    }
    check(!bad_frame, "%s: objects inside 160x210 with w,h > 0 (%d bad)", sp->g->name, bad_frame);
    check(!bad_cat, "%s: objects have known categories (%d bad)", sp->g->name, bad_cat);
    check(!bad_motion && moving > 1000, "%s: dx/dy equal the position change (%d moving, %d bad)", sp->g->name,
          moving, bad_motion);
    check(!bad_lives, "%s: lives only drop (bonus lives: %s, one at a time when scoring)", sp->g->name,
          sp->bonus_lives ? "yes" : "no");
    check(!bad_score, "%s: score() moves by exactly the step's reward", sp->g->name);
    check(!bad_end, "%s: %d random episodes end within max_steps=%d (%d over 2000 steps)", sp->g->name, episodes,
          sp->g->max_steps, long_episodes);
    check(!bad_done, "%s: after the end, step keeps reporting done with no reward", sp->g->name);

    run_reset(&r, sp->g, 5);
    int t = 0;
    while (!run_step(&r, 0).done) t++;
    check(t < sp->g->max_steps, "%s: NOOP forever ends by step %d (max_steps %d)", sp->g->name, t + 1,
          sp->g->max_steps);
}

static double mean_score(const AtariGame *g, Policy pol, int steps) {
    double sum = 0;
    for (uint64_t seed = 1; seed <= 5; seed++) sum += episode(g, seed, pol, steps);
    return sum / 5;
}

static void check_reference(const Spec *sp, double margin) {
    double ref = mean_score(sp->g, sp->reference, sp->eval_steps);
    double rnd = mean_score(sp->g, random_policy, sp->eval_steps);
    check(ref >= 2 * rnd && ref >= rnd + margin, "%s: reference %.1f vs random %.1f (5 seeds, %d steps)", sp->g->name,
          ref, rnd, sp->eval_steps);
}

static void check_speed(const Spec *sp) {
    static Run r;
    uint64_t rng = 1;
    long steps = 0;
    int episodes = 0;
    run_reset(&r, sp->g, 1);
    clock_t c0 = clock();
    while (steps < 3000000) {
        for (int k = 0; k < 1000; k++, steps++)
            if (sp->g->step(r.state, atari_rng_int(&rng, 0, sp->g->n_actions - 1)).done)
                sp->g->reset(r.state, (uint64_t)++episodes);
    }
    double secs = (double)(clock() - c0) / CLOCKS_PER_SEC;
    double rate = steps / (secs > 0 ? secs : 1e-9);
    printf("info %s: %.2fM steps/s (engine only, random actions, %d episodes)\n", sp->g->name, rate / 1e6,
           episodes);
    check(rate >= 1e6, "%s: engine runs >= 1M steps/s", sp->g->name);
}

/* ---- scripted sequences ------------------------------------------------------- */

static void asterix_scripts(void) {
    const AtariGame *g = &atari_asterix;
    static Run r;
    run_reset(&r, g, 3);
    int y0 = find(&r, "Player")->y;
    run_step(&r, action_of(g, "UP"));
    check(find(&r, "Player")->y == y0 - 16, "asterix: UP moves one lane (16 px) per step");
    for (int k = 0; k < 10; k++) run_step(&r, action_of(g, "UP"));
    check(find(&r, "Player")->y == 27, "asterix: UP stops at the top lane");
    int x0 = find(&r, "Player")->x;
    run_step(&r, action_of(g, "RIGHT"));
    check(find(&r, "Player")->x == x0 + 8, "asterix: RIGHT walks 8 px per step");

    /* Standing still: the lyres come through sooner or later. */
    int lost_at = -1, bad_reward = 0;
    run_reset(&r, g, 11);
    for (int t = 0; t < 5000; t++) {
        AtariStep st = run_step(&r, 0);
        if (st.reward % 50) bad_reward++;
        if (lost_at < 0 && g->lives(r.state) < 3) lost_at = t;
        if (st.done) break;
    }
    check(lost_at >= 0 && g->lives(r.state) == 0, "asterix: standing still loses all lives (first at step %d)",
          lost_at);
    check(!bad_reward, "asterix: early rewards are worth multiples of 50 (cauldrons)");
}

static void enduro_scripts(void) {
    const AtariGame *g = &atari_enduro;
    static Run r;
    run_reset(&r, g, 3);
    int t = 0, moved = 0;
    AtariStep st = { 0, 0 };
    for (; !st.done; t++) {
        st = run_step(&r, 0);
        if (st.reward || g->score(r.state)) moved = 1;
    }
    check(!moved && t == 3400, "enduro: NOOP forever passes no car, score stays 0, race ends with day 1 (step %d)",
          t);

    run_reset(&r, g, 3);
    int passed = 0, min_score = 0;
    for (t = 0; t < 1000; t++) {
        st = run_step(&r, action_of(g, "FIRE"));
        passed += st.reward > 0;
    }
    check(passed > 0, "enduro: FIRE forever overtakes cars (%d in 1000 steps)", passed);
    int overtaken = 0;
    for (t = 0; t < 1000; t++) {
        st = run_step(&r, action_of(g, "DOWN"));
        overtaken += st.reward < 0;
        min_score = imin(min_score, g->score(r.state));
    }
    check(overtaken > 0 && min_score >= 0, "enduro: braking, cars overtake again (-1 each, %d), score never < 0",
          overtaken);
}

static void qbert_scripts(void) {
    const AtariGame *g = &atari_qbert;
    static Run r;
    const char *off[2] = { "UP", "LEFT" };
    for (int k = 0; k < 2; k++) {
        run_reset(&r, g, 3);
        int t = 0;
        run_step(&r, action_of(g, off[k]));
        while (g->lives(r.state) == 4 && t < 100) t++, run_step(&r, 0);
        check(g->lives(r.state) == 3 && g->score(r.state) == 0 && t < 20,
              "qbert: %s from the top jumps off the pyramid and costs a life (after %d steps)", off[k], t + 1);
    }
    run_reset(&r, g, 3);
    int cubes = count(&r, "Cube");
    for (int k = 0; k < 4; k++) run_step(&r, action_of(g, "DOWN"));
    check(cubes == 28 && g->score(r.state) == 25 && count(&r, "ColoredCube") == 1,
          "qbert: one hop down colours a cube for 25 points (28 cubes)");
    const AtariObject *p = find(&r, "Player");
    check(p && qbert_cube_at(&r, p->x - 6, p->y + p->h), "qbert: after a hop Q*bert stands on a cube");

    /* Down the left edge to the row below the left disk, then up-left onto the disk: it carries
       Q*bert back to the top without costing a life. */
    run_reset(&r, g, 3);
    const AtariObject *disk = find(&r, "Disk");
    int row = disk ? (disk->y - 32) / 24 : 0, disks = count(&r, "Disk");
    for (int k = 0; k < 4 * (row + 1); k++) run_step(&r, action_of(g, "DOWN"));
    run_step(&r, action_of(g, "LEFT"));
    for (int k = 0; k < 24; k++) run_step(&r, 0);
    p = find(&r, "Player");
    check(disk && disks == 2 && count(&r, "Disk") == 1 && g->lives(r.state) == 4 && p && p->x == 76 && p->y == 20,
          "qbert: hopping onto a disk (row %d) rides back to the top; the disk is used up, no life lost", row);

    /* The reference wins rounds: a reward of 1000+ is a round bonus. */
    int bonus = 0;
    uint64_t rng = 1;
    run_reset(&r, g, 1);
    for (int t = 0; t < 4000; t++) {
        AtariStep st = run_step(&r, qbert_reference(&r, &rng));
        bonus += st.reward >= 1000;
        if (st.done) break;
    }
    check(bonus > 0, "qbert: the reference completes rounds (%d round bonuses)", bonus);
}

static void seaquest_scripts(void) {
    const AtariGame *g = &atari_seaquest;
    static Run r;
    /* Parked between lanes 0 and 1, nothing can touch the sub; only the air runs out. */
    run_reset(&r, g, 3);
    int deaths[8], n_deaths = 0, lives = 4, t = 0, scored = 0;
    for (; t < 5000; t++) {
        const AtariObject *p = find(&r, "Player");
        AtariStep st = run_step(&r, p && p->y < 82 ? action_of(g, "DOWN") : 0);
        scored += st.reward;
        if (g->lives(r.state) < lives) {
            lives = g->lives(r.state);
            deaths[n_deaths++] = t;
        }
        if (st.done) break;
    }
    check(n_deaths == 4 && lives == 0 && scored == 0, "seaquest: never surfacing, the sub dies 4 times and the game "
                                                      "ends (step %d)", t + 1);
    check(n_deaths > 0 && deaths[0] >= 500 && deaths[0] <= 515,
          "seaquest: the first death comes when the oxygen is out (step %d, 64 units x 32 frames / 4)",
          n_deaths ? deaths[0] + 1 : -1);

    run_reset(&r, g, 3);
    for (t = 0; t < 4; t++) run_step(&r, action_of(g, "DOWN"));
    for (t = 0; t < 6; t++) run_step(&r, action_of(g, "UP"));
    check(g->lives(r.state) == 3, "seaquest: surfacing with no diver aboard costs a life");

    run_reset(&r, g, 3);
    run_step(&r, action_of(g, "RIGHTFIRE"));
    const AtariObject *m = find(&r, "PlayerMissile");
    const AtariObject *p = find(&r, "Player");
    check(m && p && m->x > p->x && find(&r, "OxygenBar")->w == 64,
          "seaquest: RIGHTFIRE launches a torpedo to the right; oxygen starts full (64)");

    int kills = 0;
    uint64_t rng = 1;
    run_reset(&r, g, 1);
    for (t = 0; t < 4000; t++) {
        AtariStep st = run_step(&r, seaquest_reference(&r, &rng));
        kills += st.reward == 20;
        if (st.done) break;
    }
    check(kills > 0, "seaquest: torpedoes kill (%d kills of 20 points by the reference)", kills);
}

/* ---- main --------------------------------------------------------------------- */

static const char *const asterix_actions[] = { "NOOP", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT",
                                               "DOWNRIGHT", "DOWNLEFT", NULL };
static const char *const enduro_actions[] = { "NOOP", "FIRE", "RIGHT", "LEFT", "DOWN", "DOWNRIGHT", "DOWNLEFT",
                                              "RIGHTFIRE", "LEFTFIRE", NULL };
static const char *const qbert_actions[] = { "NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN", NULL };
static const char *const seaquest_actions[] = {
    "NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT", "DOWNRIGHT", "DOWNLEFT", "UPFIRE",
    "RIGHTFIRE", "LEFTFIRE", "DOWNFIRE", "UPRIGHTFIRE", "UPLEFTFIRE", "DOWNRIGHTFIRE", "DOWNLEFTFIRE", NULL };

static const char *const asterix_cats[] = { "Player", "Enemy", "Reward", NULL };
static const char *const enduro_cats[] = { "Player", "Car", NULL };
static const char *const qbert_cats[] = { "Player", "Cube", "ColoredCube", "Disk", "RedBall", "PurpleBall",
                                          "Coily", "GreenBall", "Sam", NULL };
static const char *const seaquest_cats[] = { "Player", "Shark", "Submarine", "Diver", "PlayerMissile",
                                             "EnemyMissile", "OxygenBar", "CollectedDiver", "SurfaceSubmarine",
                                             NULL };

int main(int argc, char **argv) {
    const Spec specs[] = {
        { &atari_asterix, asterix_actions, asterix_cats, 1, asterix_reference, 20000 },
        { &atari_enduro, enduro_actions, enduro_cats, 0, enduro_reference, 5000 },
        { &atari_qbert, qbert_actions, qbert_cats, 0, qbert_reference, 4000 },
        { &atari_seaquest, seaquest_actions, seaquest_cats, 1, seaquest_reference, 4000 },
    };
    const double margins[] = { 500, 50, 300, 200 };
    int speed = !(argc > 1 && !strcmp(argv[1], "--no-speed"));
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        const Spec *sp = &specs[i];
        check_actions(sp);
        check_determinism(sp);
        check_objects(sp);
        check_reference(sp, margins[i]);
        if (speed) check_speed(sp);
    }
    asterix_scripts();
    enduro_scripts();
    qbert_scripts();
    seaquest_scripts();
    printf("%d passed, %d failed\n", n_passed, n_failed);
    return n_failed ? 1 : 0;
}
