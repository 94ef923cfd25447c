# PyTorch twin of examples/linear_regression.rs (the tutorial's regression, seeded).
import torch
import torch.nn as nn
import torch.optim as optim

torch.manual_seed(42)

# 生成模擬數據(y = 2x1 + 3x2 + 5 + 噪聲)
x = torch.randn(100, 2)  # 100個樣本,2個特徵
true_w = torch.tensor([2.0, 3.0])
true_b = torch.tensor(5.0)
y_true = (x @ true_w) + true_b + 0.1 * torch.randn(100)  # 帶噪聲


class LinearNet(nn.Module):
    def __init__(self):
        super(LinearNet, self).__init__()
        self.fc = nn.Linear(2, 1)  # 輸入2維,輸出1維

    def forward(self, x):
        return self.fc(x)


model = LinearNet()

criterion = nn.MSELoss()  # 均方誤差
optimizer = optim.SGD(model.parameters(), lr=0.1)  # 學習率0.1

for epoch in range(100):
    y_pred = model(x)
    loss = criterion(y_pred, y_true.unsqueeze(1))  # 調整維度匹配

    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

    if epoch % 10 == 0:
        print(f"Epoch {epoch}, Loss: {loss.item():.4f}")

print("學習後的權重:", model.fc.weight)
print("學習後的偏置:", model.fc.bias)
