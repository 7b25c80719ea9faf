"""Membership-inference and inversion attacks. They take models' outputs, not training loops."""
from .inversion import InversionConfig, invert
from .mia import SVCAttack, mia_efficacy, svc_mia, threshold_attack
from .shadow import ShadowAttack, ShadowData, train_shadow_models

__all__ = ["InversionConfig", "SVCAttack", "ShadowAttack", "ShadowData", "invert", "mia_efficacy", "svc_mia",
           "threshold_attack", "train_shadow_models"]
