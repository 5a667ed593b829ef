"""What a policy and a version label may be called: the one definition of each pattern.

A policy's name is a directory name under the artifact root (the store checks it too); a
label is a name the service resolves to a version. Requests, the store and the data plane
all check against these. Standard library only: the API's request models import it.
"""

import re

POLICY_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
POLICY_NAME_RULE = "1-64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
LABEL_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"
LABEL_RULE = "a label (a-z, 0-9, '_', '-')"

POLICY_NAME = re.compile(POLICY_NAME_PATTERN)
LABEL = re.compile(LABEL_PATTERN)
