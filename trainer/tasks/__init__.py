"""The environment seam: one `Task` protocol (`base`) that the A2C loop, the CLI, evaluation
and publishing talk to, and the modules that implement it.

Two families implement it. `tabular.TabularTask` (discrete states with gymnasium's
transition table `env.unwrapped.P`) steps its environments with numpy and evaluates
exactly. `box.BoxTask` (Box observations, discrete actions) steps `gymnasium.make_vec` and
evaluates by Monte Carlo. `registry.create_task` picks the family from the environment's
spaces, with what `catalogue` knows of the tasks tuned here; an environment with options of
its own (`frozenlake`) has a module that builds its task and owns its CLI flags.

Nothing is imported here, so importing one task module imports only what it needs.
"""
