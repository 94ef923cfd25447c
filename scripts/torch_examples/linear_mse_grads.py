# Seed 002: a Linear layer with its weights set by hand, MSE loss and its gradients.
import torch
import torch.nn as nn

x = torch.tensor([[0.5, -1.5], [1.0, 1.0]], requires_grad=True)
linear = nn.Linear(2, 1)
with torch.no_grad():
    linear.weight.copy_(torch.tensor([[0.3, -0.2]]))
    linear.bias.copy_(torch.tensor([0.1]))
y_pred = linear(x)
y_true = torch.tensor([[1.0], [0.0]])
loss_fn = nn.MSELoss()
loss = loss_fn(y_pred, y_true)
loss.backward()
print(f"Loss: {loss.item()}")
print(f"Gradients: {linear.weight.grad}, {linear.bias.grad}")
print(linear.weight)
