"""The Open Inference Protocol's request objects as pydantic models (as MLServer's `types`
are): a request is validated whole before the data plane sees it, and anything the
protocol does not allow is a 400 naming the field.

Field names and types follow KServe's `required_api.md` and Triton's binary tensor data
and model repository extensions. Objects may carry fields the protocol does not name
(Triton's own clients send some); parameter values are what the protocol allows, a
string, a number or a boolean.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

# The protocol's $parameter: "$string : $string | $number | $boolean".
Parameter = Union[StrictBool, StrictInt, StrictFloat, StrictStr]
MAX_RANK = 8


class Parameters(BaseModel):
    """Parameters nobody here reads are allowed (a server may define its own), as long as
    their values are of the protocol's types."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, Parameter]


class InferParameters(Parameters):
    mode: Literal["sample", "greedy"] = Field("sample", description="Sample the action (as /act does) or take the argmax.")
    seed: Annotated[StrictInt, Field(ge=0, lt=2**63)] | None = Field(None, description="Seed of the sampled action.")
    action_mask: StrictStr | None = Field(
        None, description='JSON text of a mask as /act takes it: "[1, 0, 1, 1]" (every observation) or one per observation.'
    )
    binary_data_output: StrictBool = Field(False, description="Send every output as binary data unless it says otherwise.")


class InputParameters(Parameters):
    binary_data_size: Annotated[StrictInt, Field(ge=0)] | None = None


class OutputParameters(Parameters):
    binary_data: StrictBool | None = None


class RequestInput(BaseModel):
    name: StrictStr
    shape: Annotated[list[Annotated[StrictInt, Field(ge=0)]], Field(min_length=1, max_length=MAX_RANK)]
    datatype: StrictStr
    parameters: InputParameters | None = None
    data: list[Any] | None = None


class RequestOutput(BaseModel):
    name: StrictStr
    parameters: OutputParameters | None = None


class InferRequest(BaseModel):
    id: StrictStr = None  # optional, but a string when present: an explicit null is refused
    parameters: InferParameters | None = None
    inputs: list[RequestInput]
    outputs: list[RequestOutput] | None = None


class RepositoryIndexRequest(BaseModel):
    ready: StrictBool = Field(False, description="List only the versions ready for inference.")
