# PyTorch twin of examples/binary_classifier.rs: a sigmoid output with
# binary_cross_entropy, then the same with BCEWithLogitsLoss on logits.
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd import grad

# 1. One neuron: forward pass, loss, gradients (the tutorial's w1, b, a, y).
y = torch.tensor([1.0])
x1 = torch.tensor([1.1])
w1 = torch.tensor([2.2], requires_grad=True)
b = torch.tensor([0.0], requires_grad=True)
z = x1 * w1 + b
a = torch.sigmoid(z)
loss = F.binary_cross_entropy(a, y)
grad_L_w1 = grad(loss, w1, retain_graph=True)
grad_L_b = grad(loss, b, retain_graph=True)
print(grad_L_w1)
print(grad_L_b)
loss.backward()
print(w1.grad)
print(b.grad)
print("loss (sigmoid + BCE):", loss.detach())
print("loss (logits):", F.binary_cross_entropy_with_logits(z, y).detach())

# 2. Stability: a confident wrong prediction.
big = torch.tensor([20.0])
target = torch.tensor([0.0])
print("BCE(sigmoid(20), 0):", F.binary_cross_entropy(torch.sigmoid(big), target))
print("BCEWithLogits(20, 0):", F.binary_cross_entropy_with_logits(big, target))

# 3. Training a classifier both ways from the same start.
torch.manual_seed(123)
X = torch.tensor([[-1.2, 3.1], [-0.9, 2.9], [-0.5, 2.6], [2.3, -1.1], [2.7, -1.5]])
labels = torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0])
model_prob = nn.Sequential(nn.Linear(2, 1), nn.Sigmoid())
model_logit = nn.Linear(2, 1)
model_logit.load_state_dict(model_prob[0].state_dict())
opt_prob = torch.optim.SGD(model_prob.parameters(), lr=0.5)
opt_logit = torch.optim.SGD(model_logit.parameters(), lr=0.5)
criterion = nn.BCEWithLogitsLoss()
for epoch in range(20):
    loss_prob = F.binary_cross_entropy(model_prob(X).squeeze(1), labels)
    opt_prob.zero_grad()
    loss_prob.backward()
    opt_prob.step()

    loss_logit = criterion(model_logit(X).squeeze(1), labels)
    opt_logit.zero_grad()
    loss_logit.backward()
    opt_logit.step()
    if epoch % 5 == 0:
        print(f"Epoch {epoch:2d} | BCE: {loss_prob.item():.4f} | BCEWithLogits: {loss_logit.item():.4f}")

with torch.no_grad():
    p1 = model_prob(X).squeeze(1)
    p2 = torch.sigmoid(model_logit(X)).squeeze(1)
print("概率 (Sigmoid + BCE):", p1)
print("概率 (BCEWithLogitsLoss):", p2)
print("预测:", (p2 > 0.5).long())
