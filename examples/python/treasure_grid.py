"""The treasure-grid study (examples/treasure_grid.yaml) written with gymkube's Python API.

Run it to print the manifest: `python examples/python/treasure_grid.py > my_study.yaml`, then
`gymkube validate my_study.yaml`. The bundle path is relative to where the manifest is saved.
"""

from __future__ import annotations

from gymkube import spec

ARROWS = {"ArrowUp": 1, "ArrowDown": 2, "ArrowLeft": 3, "ArrowRight": 4}
DIAGONALS = {"ArrowUp+ArrowLeft": 5, "ArrowUp+ArrowRight": 6, "ArrowDown+ArrowLeft": 7, "ArrowDown+ArrowRight": 8}

how_to_play = spec.StaticScene(
    id="how-to-play",
    title="How to play",
    button="Start",
    min_time_s=3,
    file="check.html",  # a page with its own script (check.js), run in a sandboxed frame
    fields=[spec.PageField(name="check", required=True), spec.PageField(name="attempts")],
)

hunt = spec.GymScene(
    id="hunt",
    title="Find the treasures",
    instructions="<p>Arrow keys move one cell; two arrows together move diagonally; space waits a turn.</p>",
    environment=spec.EnvironmentSpec(entry_point="grid_env:make_env", kwargs={"size": 7, "treasures": 4}),
    players={"explorer": spec.HumanPlayer(label="You", color="#1f6feb")},
    fps=30,
    episodes=3,
    max_steps=40,
    seed=2024,
    controls=spec.Controls(
        mode="turn",  # the game waits for a key before each step
        turn_timeout_s=30,
        default_action=0,
        keys={" ": 0, **ARROWS, **DIAGONALS},
        gamepad=spec.Gamepad(
            buttons={"12": 1, "13": 2, "14": 3, "15": 4, "0": 0},
            axes={"1-": 1, "1+": 2, "0-": 3, "0+": 4},
        ),
    ),
    rendering=spec.Rendering(mode="objects", width=490, height=490, background="#f6f8fa"),
    hud=spec.HudSource(environment=True),  # the environment's hud_text()
    hooks="grid_hooks:TreasureHooks",  # a column per move, a bonus per episode
)

after = spec.SurveyScene(
    id="after",
    title="One question",
    questions=[spec.Question(id="strategy", type="text", prompt="How did you decide where to go?", required=False)],
)

experiment = spec.Experiment(
    metadata=spec.Metadata(name="treasure-grid", labels={"example": "true"}),
    spec=spec.ExperimentSpec(
        title="Treasure hunt (turn by turn)",
        description="A comprehension check page, then three rounds of a turn-based treasure hunt with a bonus "
        "per treasure.",
        bundle="treasure_grid",
        recruitment=spec.Recruitment(participant_param="PROLIFIC_PID"),
        scenes=[how_to_play, hunt, after, spec.EndScene(completion_code="auto")],
    ),
)

if __name__ == "__main__":
    print(experiment.to_yaml(), end="")
