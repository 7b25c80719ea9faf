"""Membership-inference and inversion attacks. They take models' outputs, not training loops
(shadow models are trained by the pipeline: `unlearnlib.shadows`)."""
from .encodermi import EncoderMIAttack, cosine_features
from .inversion import InversionConfig, invert, judge
from .mia import SVCAttack, mia_efficacy, svc_mia, threshold_attack
from .shadow import AttackConfig, ShadowAttack, ShadowData

__all__ = ["AttackConfig", "EncoderMIAttack", "InversionConfig", "SVCAttack", "ShadowAttack", "ShadowData", "cosine_features", "invert", "judge",
           "mia_efficacy", "svc_mia", "threshold_attack"]
