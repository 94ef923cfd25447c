# PyTorch twin of examples/xor_mlp.rs (the tutorial's MLP on XOR, seeded).
import torch
import torch.nn as nn

torch.manual_seed(1)


class MLP(nn.Module):
    """多层感知机"""

    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.layer1 = nn.Linear(input_size, hidden_size)
        self.layer2 = nn.Linear(hidden_size, output_size)
        self.activation = nn.ReLU()

    def forward(self, x):
        x = self.layer1(x)
        x = self.activation(x)
        x = self.layer2(x)
        return x


# 解决 XOR 问题
X = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float32)
y = torch.tensor([[0], [1], [1], [0]], dtype=torch.float32)  # XOR

model = MLP(2, 4, 1)
criterion = nn.MSELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.1)

for epoch in range(1000):
    outputs = model(X)
    loss = criterion(outputs, y)

    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

    if (epoch + 1) % 200 == 0:
        print(f"Epoch {epoch+1}, Loss: {loss.item():.4f}")

print("\nXOR 测试:")
with torch.no_grad():
    predictions = model(X)
    for xi, pred in zip(X, predictions):
        print(f"  {xi.tolist()} -> {pred.item():.2f}")
