"""torch.nn.functional's convolutions on convkit tensors."""
from typing import Optional, Sequence, Tuple, Union

from .._convkit import ConvSpec, Tensor

_IntOrTuple = Union[int, Sequence[int]]
_Padding = Union[str, int, Sequence[int], Sequence[Tuple[int, int]]]

def conv1d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride: _IntOrTuple = 1,
           padding: _Padding = 0, dilation: _IntOrTuple = 1, groups: int = 1, *, padding_mode: str = "zeros",
           conv_mode: str = "cross_correlation", compute_mode: str = "default") -> Tensor: ...
def conv2d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride: _IntOrTuple = 1,
           padding: _Padding = 0, dilation: _IntOrTuple = 1, groups: int = 1, *, padding_mode: str = "zeros",
           conv_mode: str = "cross_correlation", compute_mode: str = "default") -> Tensor: ...
def conv3d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride: _IntOrTuple = 1,
           padding: _Padding = 0, dilation: _IntOrTuple = 1, groups: int = 1, *, padding_mode: str = "zeros",
           conv_mode: str = "cross_correlation", compute_mode: str = "default") -> Tensor: ...
def conv_transpose1d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride: _IntOrTuple = 1,
                     padding: _IntOrTuple = 0, output_padding: _IntOrTuple = 0, groups: int = 1,
                     dilation: _IntOrTuple = 1) -> Tensor: ...
def conv_transpose2d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride: _IntOrTuple = 1,
                     padding: _IntOrTuple = 0, output_padding: _IntOrTuple = 0, groups: int = 1,
                     dilation: _IntOrTuple = 1) -> Tensor: ...
def conv_transpose3d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride: _IntOrTuple = 1,
                     padding: _IntOrTuple = 0, output_padding: _IntOrTuple = 0, groups: int = 1,
                     dilation: _IntOrTuple = 1) -> Tensor: ...
def conv_backward(grad_output: Tensor, input: Tensor, weight: Tensor, spec: ConvSpec,
                  output_mask: Sequence[bool] = (True, True, True)
                  ) -> Tuple[Optional[Tensor], Optional[Tensor], Optional[Tensor]]: ...
