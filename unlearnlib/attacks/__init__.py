"""Membership-inference and inversion attacks. They take model outputs, not training loops."""
from .mia import SVCAttack, mia_efficacy, svc_mia, threshold_attack

__all__ = ["SVCAttack", "mia_efficacy", "svc_mia", "threshold_attack"]
