"""What a policy and a version label may be called: the wire contract's patterns, owned by
the client distribution (which every server install has) and checked by the store too."""

from policy_client.names import LABEL, LABEL_PATTERN, LABEL_RULE, POLICY_NAME, POLICY_NAME_PATTERN, POLICY_NAME_RULE

__all__ = ["LABEL", "LABEL_PATTERN", "LABEL_RULE", "POLICY_NAME", "POLICY_NAME_PATTERN", "POLICY_NAME_RULE"]
