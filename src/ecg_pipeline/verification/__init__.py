"""Certified lower bounds on robustness (issue 24): IBP, CROWN, alpha-CROWN and exact MILP verification of the
MIT-BIH MLP and Kachuee CNN, in float64, with no Kedro. Entry points: :func:`certify` (one eps), and
:func:`certify_grid` (an eps grid on the attacks' beats, what ``<run>.certify`` runs)."""

from .certify import BROKEN, CERTIFIED, METHODS, UNKNOWN, Certificate, certified_examples, certify
from .grid import CertifySpec, certify_grid
from .network import Network, forward, translate

__all__ = ["BROKEN", "CERTIFIED", "METHODS", "UNKNOWN", "Certificate", "CertifySpec", "Network", "certified_examples",
           "certify", "certify_grid", "forward", "translate"]
