"""``conveyor``: operate a Conveyor stack, deployed on AWS or running in the offline cloud, from one CLI."""
