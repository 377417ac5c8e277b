"""Certified lower bounds on robustness (issue 24): IBP, CROWN, alpha-CROWN and exact MILP verification of the
MIT-BIH MLP and Kachuee CNN, in float64, with no Kedro. Entry point: :func:`certify`."""

from .certify import BROKEN, CERTIFIED, METHODS, UNKNOWN, Certificate, certified_examples, certify
from .network import Network, forward, translate

__all__ = ["BROKEN", "CERTIFIED", "METHODS", "UNKNOWN", "Certificate", "Network", "certified_examples", "certify",
           "forward", "translate"]
