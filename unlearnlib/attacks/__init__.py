"""Membership-inference and inversion attacks. They take models' outputs, not training loops."""
from .encodermi import EncoderMIAttack, cosine_features
from .inversion import InversionConfig, invert
from .mia import SVCAttack, mia_efficacy, svc_mia, threshold_attack
from .shadow import ShadowAttack, ShadowData, train_shadow_models

__all__ = ["EncoderMIAttack", "InversionConfig", "SVCAttack", "ShadowAttack", "ShadowData", "cosine_features", "invert", "mia_efficacy", "svc_mia",
           "threshold_attack", "train_shadow_models"]
