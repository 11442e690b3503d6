"""hone's external environment for the real games: ALE + OCAtari over JSON lines.

    python3 ocatari_bridge.py GAME        GAME as hone names it: pong, space_invaders, ...

Reads one request per line on stdin and writes one reply per line on stdout, as described
in tasks/atari/README.md ("External environments: the JSON-lines protocol"). Run it from
hone with --set env_command="/path/to/venv/bin/python /path/to/ocatari_bridge.py pong".

Not exercised by hone's tests: ALE and OCAtari cannot be installed where they run
(tests/atari_env_server.lua serves hone's own engines over the same protocol instead).
"""
import json
import sys

from ocatari.core import OCAtari

MAX_STEPS = 27000  # ALE v5 truncates an episode at 108000 frames: 27000 steps of 4 frames


def ale_id(game):
    return "ALE/" + "".join(word.capitalize() for word in game.split("_")) + "-v5"


class Bridge:
    def __init__(self, game):
        # Frameskip 4 as hone's engines; no sticky actions, so that a seed and the actions
        # played fix the episode (hone replays experiences from the seed).
        self.env = OCAtari(ale_id(game), mode="ram", hud=False, render_mode=None,
                           frameskip=4, repeat_action_probability=0.0)
        self.actions = list(self.env.unwrapped.get_action_meanings())
        self.score = 0

    def observation(self):
        objects = [{"category": o.category, "x": int(o.x), "y": int(o.y), "w": int(o.w),
                    "h": int(o.h), "dx": int(o.dx), "dy": int(o.dy)}
                   for o in self.env.objects if o.category != "NoObject"]
        return {"objects": objects, "score": self.score,
                "lives": int(self.env.unwrapped.ale.lives())}

    def reset(self, seed):
        self.env.reset(seed=seed)
        self.score = 0
        return {"observation": self.observation(), "actions": self.actions,
                "max_steps": MAX_STEPS}

    def step(self, action):
        _, reward, terminated, truncated, _ = self.env.step(self.actions.index(action))
        self.score += reward
        return {"observation": self.observation(), "reward": reward,
                "done": bool(terminated or truncated)}


def main():
    bridge = Bridge(sys.argv[1])
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("cmd") == "close":
            break
        try:
            if request.get("cmd") == "reset":
                reply = bridge.reset(int(request["seed"]))
            elif request.get("cmd") == "step":
                reply = bridge.step(request["action"])
            else:
                reply = {"error": "unknown request %r" % request.get("cmd")}
        except Exception as e:  # one line back to hone, which stops the run with it
            reply = {"error": "%s: %s" % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
