"""peer-support-sim: a SimPy model of the rollout of a community peer-support service for people
with severe mental illness, after Fan et al. (2019), BMC Psychiatry 19:360."""

__version__ = "0.1.0"
